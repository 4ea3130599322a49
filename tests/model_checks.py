"""Checks shared by every model test (backbones, heads, SR nets).

Each check takes a built-or-unbuilt Keras model and example ``inputs``: one
array, or a tuple/list of arrays passed positionally (``model(*inputs)``, e.g.
``(embeddings, labels)`` for a margin head). Outputs may be a tensor or any
nest of tensors (tuple, list, dict); every leaf is compared.

    from model_checks import assert_config_roundtrip, assert_tflite_parity
"""

from __future__ import annotations

import pathlib
from typing import Callable, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf


def _as_args(inputs) -> tuple:
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs)
    return (inputs,)


def _call(model, inputs, training=False):
    return model(*_as_args(inputs), training=training)


def _leaves(outputs) -> list:
    return [np.asarray(keras.ops.convert_to_numpy(t)) for t in tf.nest.flatten(outputs)]


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of a and b per leading-dim row (each row flattened)."""
    a = a.reshape(a.shape[0], -1).astype(np.float64)
    b = b.reshape(b.shape[0], -1).astype(np.float64)
    num = np.sum(a * b, axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    both_zero = den == 0
    return np.where(both_zero, 1.0, num / np.where(both_zero, 1.0, den))


def assert_outputs_close(expected, actual, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    exp, act = _leaves(expected), _leaves(actual)
    assert len(exp) == len(act), f"{len(exp)} output tensors expected, got {len(act)}"
    for i, (e, a) in enumerate(zip(exp, act)):
        assert e.shape == a.shape, f"output {i}: shape {a.shape} != {e.shape}"
        np.testing.assert_allclose(a, e, atol=atol, rtol=rtol, err_msg=f"output {i}")


def assert_config_roundtrip(model, inputs) -> keras.Model:
    """from_config(get_config()) rebuilds an equal config; with copied weights it gives identical outputs."""
    expected = _call(model, inputs)
    config = model.get_config()
    clone = model.__class__.from_config(config)
    _call(clone, inputs)  # build
    assert clone.get_config() == config, "get_config() changes after from_config()"
    assert len(clone.weights) == len(model.weights), (
        f"clone has {len(clone.weights)} weights, original {len(model.weights)}")
    clone.set_weights(model.get_weights())
    assert_outputs_close(expected, _call(clone, inputs), atol=1e-6, rtol=1e-6)
    return clone


def assert_keras_save_load(model, inputs, tmp_path) -> keras.Model:
    """model.save(.keras) then keras.saving.load_model gives the same class and identical outputs."""
    expected = _call(model, inputs)
    path = pathlib.Path(tmp_path) / f"{model.name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model), f"loaded {type(loaded).__name__}, saved {type(model).__name__}"
    assert_outputs_close(expected, _call(loaded, inputs), atol=1e-6, rtol=1e-6)
    return loaded


def export_tflite(model, inputs, tmp_path, name: Optional[str] = None) -> pathlib.Path:
    """Float32 TFLite via ExportArchive -> SavedModel -> TFLiteConverter.from_saved_model.

    The signature has the exact shapes and dtypes of ``inputs`` (fixed batch),
    which is what edge deployment uses.
    """
    args = _as_args(inputs)
    name = name or model.name
    saved = pathlib.Path(tmp_path) / f"{name}_savedmodel"
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serve",
        fn=lambda *xs: model(*xs, training=False),
        input_signature=[tf.TensorSpec(np.shape(a), tf.as_dtype(np.asarray(a).dtype)) for a in args],
    )
    archive.write_out(str(saved), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    path = pathlib.Path(tmp_path) / f"{name}.tflite"
    path.write_bytes(converter.convert())
    return path


def run_tflite(path, inputs) -> list:
    """Run a .tflite file on ``inputs`` (matched to the model inputs in order); returns every output."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner()
    input_names = list(runner.get_input_details())
    args = _as_args(inputs)
    assert len(input_names) == len(args), f"{path}: {len(input_names)} inputs, {len(args)} given"
    # Signature inputs are named after the Python args; keep the call order.
    feed = {n: np.asarray(a) for n, a in zip(sorted(input_names, key=_arg_index), args)}
    outputs = runner(**feed)
    return [outputs[k] for k in sorted(outputs, key=_arg_index)]


def _arg_index(name: str):
    """Order 'xs', 'xs_1', 'xs_2' / 'output_0', 'output_1' by their trailing index."""
    tail = name.rsplit("_", 1)
    return (int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else -1, name)


def assert_tflite_parity(model, inputs, tmp_path, min_cosine: float = 0.9999) -> pathlib.Path:
    """Float32 TFLite conversion agrees with Keras: per-row cosine >= min_cosine for every output."""
    expected = _leaves(_call(model, inputs))
    path = export_tflite(model, inputs, tmp_path)
    actual = run_tflite(path, inputs)
    assert len(actual) == len(expected), f"TFLite has {len(actual)} outputs, Keras {len(expected)}"
    for i, (e, a) in enumerate(zip(expected, actual)):
        assert a.shape == e.shape, f"output {i}: TFLite shape {a.shape} != Keras {e.shape}"
        assert np.all(np.isfinite(a)), f"output {i}: TFLite produced non-finite values"
        cos = _row_cosines(e, a)
        assert cos.min() >= min_cosine, f"output {i}: min cosine TFLite vs Keras {cos.min():.6f} < {min_cosine}"
    return path


def assert_no_onednn_hazards(model, inputs, loss_fn: Callable, weights) -> None:
    """The traced training gradient has none of the op patterns that crash TF 2.21's oneDNN on AVX-512
    CPUs (lrfr_tf.platform_checks): a pure graph check, so it fails on every machine, crash-prone or not."""
    from lrfr_tf.platform_checks import onednn_hazards

    specs = tuple(tf.TensorSpec(np.shape(a), tf.as_dtype(np.asarray(a).dtype)) for a in _as_args(inputs))

    @tf.function
    def gradient(*args):
        with tf.GradientTape() as tape:
            loss = loss_fn(model(*args, training=True))
        return tape.gradient(loss, [w.value for w in weights])

    hazards = onednn_hazards(gradient.get_concrete_function(*specs))
    assert not hazards, f"crash-prone ops on AVX-512 CPUs with oneDNN: {hazards}"


def assert_all_weights_get_gradients(model, inputs, loss_fn: Optional[Callable] = None,
                                     ignore: Sequence[str] = ()) -> None:
    """Every trainable weight has a finite, non-zero gradient of loss_fn(outputs).

    The default loss is a fixed random projection of every output,
    sum(out * r) with r ~ N(0, 1): unlike a sum of squares or a plain sum, it
    is not (nearly) constant behind a training-mode BatchNorm, whose outputs
    have zero mean and unit variance per feature over the batch.
    ``ignore`` lists substrings of weight paths that legitimately get no
    gradient from this loss (say why at the call site).
    """
    if loss_fn is None:
        def loss_fn(outputs):
            terms = []
            for i, t in enumerate(tf.nest.flatten(outputs)):
                t = tf.cast(t, tf.float32)
                r = tf.random.stateless_normal(tf.shape(t), seed=tf.constant([7, i], tf.int64))
                terms.append(tf.reduce_sum(t * r))
            return tf.add_n(terms)
    _call(model, inputs, training=True)  # build outside the tape
    weights = [w for w in model.trainable_weights if not any(s in w.path for s in ignore)]
    assert weights, "model has no trainable weights"
    assert_no_onednn_hazards(model, inputs, loss_fn, weights)  # before running anything that could crash
    with tf.GradientTape() as tape:
        loss = loss_fn(_call(model, inputs, training=True))
    grads = tape.gradient(loss, [w.value for w in weights])
    missing = [w.path for w, g in zip(weights, grads) if g is None]
    assert not missing, f"no gradient for {missing}"
    bad = [w.path for w, g in zip(weights, grads) if not np.all(np.isfinite(keras.ops.convert_to_numpy(g)))]
    assert not bad, f"non-finite gradient for {bad}"
    zero = [w.path for w, g in zip(weights, grads) if not np.any(keras.ops.convert_to_numpy(g))]
    assert not zero, f"all-zero gradient for {zero}"
