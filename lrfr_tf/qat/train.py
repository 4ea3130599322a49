"""QAT environment: quantisation-aware fine-tuning of the tf_keras twin by distillation, and its int8 .tflite.

1. ``build_twin``: the float twin from the twin file, checked against the Keras 3 embeddings.
2. ``quantize``: tfmot fake-quant wrappers (``lrfr_tf.qat.twin``).
3. ``calibrate_ranges``: every activation range (input, each conv / PReLU / ReLU / Add output) set to the
   float twin's min/max over calibration inputs (tfmot starts them at [-6, 6] and moves them by
   exponential moving average, decay 0.999: a thousand steps before they fit). Weight ranges follow the
   weights (last value) on every training step.
4. ``distill``: Adam (cosine learning-rate decay to 0 over the run) on ``1 - cos(student(x), teacher)``, where the teacher is the Keras 3 source model's
   L2-normalised embedding of the same face (precomputed by ``lrfr_tf.qat.dataset``). This is the brief's
   "distillation to the float model's embeddings"; no identity labels, no margin loss. Checkpoints every
   ``checkpoint_every`` steps; a run resumes from the last one.
5. ``write_saved_model`` + ``convert_int8``: ``embed_normalized`` SavedModel, then
   ``TFLiteConverter.from_saved_model``, full integer, int8 (or uint8) I/O, the fake-quant ranges.
"""

from __future__ import annotations

import json
import os
import time
from typing import Callable, Dict, Optional

import numpy as np


def normalized(images: np.ndarray, preprocessing) -> np.ndarray:
    from lrfr_tf.eval.embedders import prepare_images

    return prepare_images(images, preprocessing)


def layer_ranges(float_model, inputs: np.ndarray, batch_size: int = 32) -> Dict[str, tuple]:
    """{layer name: (min, max)} of every layer output of a functional tf_keras model (and ``"input"``)."""
    from lrfr_tf.qat.twin import tf_keras

    keras = tf_keras()
    layers = [l for l in float_model.layers if not isinstance(l, keras.layers.InputLayer)]
    probe = keras.Model(float_model.inputs, [l.output for l in layers])
    lo, hi = {"input": float(inputs.min())}, {"input": float(inputs.max())}
    for i in range(0, len(inputs), batch_size):
        for layer, y in zip(layers, probe(inputs[i:i + batch_size], training=False)):
            y = np.asarray(y)
            lo[layer.name] = min(lo.get(layer.name, np.inf), float(y.min()))
            hi[layer.name] = max(hi.get(layer.name, -np.inf), float(y.max()))
    return {k: (lo[k], hi[k]) for k in lo}


def calibrate_ranges(qat_model, float_model, inputs: np.ndarray) -> int:
    """Set the activation range variables of ``qat_model`` from ``float_model``'s outputs on ``inputs`` (see the
    module docstring); one training-mode call then sets the weight ranges. Returns how many ranges were set."""
    ranges = layer_ranges(float_model, inputs)
    done = 0
    for var in qat_model.non_trainable_variables:
        name = var.name.split(":")[0]
        scope, _, leaf = name.rpartition("/")
        if scope == "quantize_layer" and leaf in ("quantize_layer_min", "quantize_layer_max"):
            layer = "input"
        elif scope.startswith("quant_") and leaf in ("post_activation_min", "post_activation_max", "output_min",
                                                     "output_max"):
            layer = scope[len("quant_"):]
        else:
            continue
        lo, hi = ranges[layer]
        var.assign(min(lo, 0.0) if leaf.endswith("min") else max(hi, 0.0))
        done += 1
    qat_model(inputs[:2], training=True)
    return done


def distill(qat_model, images: np.ndarray, targets: np.ndarray, preprocessing, steps: int, batch_size: int,
            learning_rate: float, checkpoint_dir: Optional[str] = None, checkpoint_every: int = 50, seed: int = 0,
            log: Callable[[str], None] = print, progress: bool = True) -> Dict[str, object]:
    """Fine-tune ``qat_model`` for ``steps`` steps (resuming from ``checkpoint_dir``); returns the loss history."""
    import tensorflow as tf

    from lrfr_tf.cli_logging import progress_bar
    from lrfr_tf.qat.twin import tf_keras

    keras = tf_keras()
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, max(steps, 1)))
    step_var = tf.Variable(0, dtype=tf.int64, trainable=False)
    manager = None
    if checkpoint_dir:
        ckpt = tf.train.Checkpoint(model=qat_model, optimizer=optimizer, step=step_var)
        manager = tf.train.CheckpointManager(ckpt, checkpoint_dir, max_to_keep=2)
        if manager.latest_checkpoint:
            ckpt.restore(manager.latest_checkpoint)
            log(f"resumed from {manager.latest_checkpoint} at step {int(step_var.numpy())}")
    variables = qat_model.trainable_variables

    @tf.function(jit_compile=False)
    def train_step(x, t):
        with tf.GradientTape() as tape:
            y = tf.math.l2_normalize(qat_model(x, training=True), axis=-1, epsilon=1e-12)
            loss = tf.reduce_mean(1.0 - tf.reduce_sum(y * t, axis=-1))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    history = []
    start = int(step_var.numpy())
    bar = progress_bar(total=steps, initial=start, desc="QAT", unit="step", disable=not progress)
    t0 = time.time()
    for step in range(start, steps):
        rng = np.random.default_rng((seed, step))  # the batch of a step does not depend on resuming
        idx = rng.choice(len(images), size=batch_size, replace=False)
        loss = float(train_step(normalized(images[idx], preprocessing), targets[idx]))
        history.append(loss)
        step_var.assign(step + 1)
        bar.update(1)
        if progress:  # (a disabled bar cannot take a postfix)
            bar.set_postfix(loss=f"{np.mean(history[-20:]):.4f}")
        if manager and ((step + 1) % checkpoint_every == 0 or step + 1 == steps):
            manager.save(checkpoint_number=step + 1)
    bar.close()
    elapsed = time.time() - t0
    return {"steps": steps, "resumed_at": start, "seconds": elapsed,
            "images_per_s": (steps - start) * batch_size / elapsed if elapsed > 0 and steps > start else None,
            "loss_first20": float(np.mean(history[:20])) if history else None,
            "loss_last20": float(np.mean(history[-20:])) if history else None}


def cosine_to_targets(model_fn, images: np.ndarray, targets: np.ndarray, preprocessing, batch_size: int = 64) -> Dict[str, float]:
    """Mean / min cosine between ``model_fn`` (normalised batch -> embeddings) and ``targets``."""
    from lrfr_tf.qat.twin import cosine

    out = np.concatenate([np.asarray(model_fn(normalized(images[i:i + batch_size], preprocessing)))
                          for i in range(0, len(images), batch_size)])
    c = cosine(out, targets)
    return {"mean": float(c.mean()), "min": float(c.min()), "p1": float(np.percentile(c, 1))}


def run(twin_path: str, data_path: str, out_dir: str, steps: int, batch_size: int = 32, learning_rate: float = 1e-5,
        calibration_faces: int = 256, holdout: int = 256, io_dtype: str = "int8", seed: int = 0,
        checkpoint_every: int = 50, log: Callable[[str], None] = print, progress: bool = True) -> Dict[str, object]:
    """Twin -> QAT -> int8 .tflite in ``out_dir`` (``qat_int8.tflite``, ``qat_train.json``); returns the report.

    The last ``holdout`` rows of the distillation set are held out of training (the cosine of the QAT model
    and of the .tflite to the teacher on them is reported)."""
    import shutil

    from lrfr_tf.preprocessing import as_preprocessing
    from lrfr_tf.qat import dataset
    from lrfr_tf.qat.twin import build_twin, convert_int8, quantize, run_tflite, write_saved_model

    data = dataset.read(data_path)
    images, targets = data["images"], data["targets"]
    holdout = min(holdout, len(images) // 4)
    order = np.random.default_rng(seed).permutation(len(images))
    train_idx, held_idx = order[holdout:], order[:holdout]
    float_twin, arch, parity = build_twin(twin_path)
    if targets.shape[1] != int(arch["embedding_dim"]):
        raise ValueError(f"{data_path}: targets are {targets.shape[1]}-d, the twin's embedding is "
                         f"{arch['embedding_dim']}-d (made for another model?)")
    pre = as_preprocessing(arch["preprocessing"])
    if tuple(images.shape[1:3]) != tuple(pre.size):
        raise ValueError(f"{data_path}: images are {images.shape[1:3]}, the twin takes {tuple(pre.size)}")
    log(f"twin parity to the Keras 3 model: {parity}")
    qat = quantize(float_twin)
    calib = normalized(images[train_idx[:calibration_faces]], pre)
    n_ranges = calibrate_ranges(qat, float_twin, calib)
    held_images, held_targets = images[held_idx], targets[held_idx]
    before = cosine_to_targets(lambda x: qat(x, training=False), held_images, held_targets, pre)
    log(f"{n_ranges} activation ranges calibrated; held-out cosine before QAT {before}")
    history = distill(qat, images[train_idx], targets[train_idx], pre, steps, batch_size, learning_rate,
                      os.path.join(out_dir, "checkpoints"), checkpoint_every, seed, log, progress)
    after = cosine_to_targets(lambda x: qat(x, training=False), held_images, held_targets, pre)
    log(f"held-out cosine after QAT {after}")
    saved = os.path.join(out_dir, "qat_saved_model")
    shutil.rmtree(saved, ignore_errors=True)
    write_saved_model(qat, pre.size, saved)
    model_bytes = convert_int8(saved, io_dtype)
    tflite_path = os.path.join(out_dir, "qat_int8.tflite")
    with open(tflite_path, "wb") as f:
        f.write(model_bytes)
    tfl = run_tflite(model_bytes, normalized(held_images, pre))
    from lrfr_tf.qat.twin import cosine

    c = cosine(tfl, held_targets)
    report = {"twin": arch.get("source"), "twin_parity": parity, "distillation_set": data["describe"],
              "train_rows": int(len(train_idx)), "holdout_rows": int(len(held_idx)),
              "steps": steps, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
              "calibration_faces": int(len(calib)), "activation_ranges": n_ranges, "history": history,
              "holdout_cosine": {"qat_before": before, "qat_after": after,
                                 "tflite_int8": {"mean": float(c.mean()), "min": float(c.min()),
                                                 "p1": float(np.percentile(c, 1))}},
              "tflite": {"path": os.path.basename(tflite_path), "bytes": len(model_bytes), "io_dtype": io_dtype}}
    with open(os.path.join(out_dir, "qat_train.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    log(f"int8 .tflite {len(model_bytes) / 1e6:.2f} MB, held-out cosine to the teacher {report['holdout_cosine']['tflite_int8']}")
    return report
