"""lrfr_tf.qat in the main environment: no tf_keras / tfmot at import time, the twin file, the BN-folded
description of a Keras 3 MobileFaceNet, and the command line's bad-input lines (exit 2, no traceback)."""

import ast
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from lrfr_tf.qat import twin_spec

QAT = pathlib.Path(__file__).resolve().parents[2] / "lrfr_tf" / "qat"
MODULES = sorted(p.stem for p in QAT.glob("*.py"))


def test_no_module_imports_tf_keras_or_tfmot_at_import_time():
    """Top-level statements only (function bodies may, in the qat environment) ..."""
    for path in QAT.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in ("tf_keras", "tensorflow_model_optimization"), f"{path.name}: {name}"


def test_importing_every_module_loads_neither_tf_keras_nor_tfmot():
    """... and for real: a fresh process imports every module of the package (``__main__`` included)."""
    code = ("import importlib, sys\n"
            f"for m in {MODULES!r}:\n"
            "    importlib.import_module('lrfr_tf.qat' if m == '__init__' else 'lrfr_tf.qat.' + m)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tf_keras', 'tensorflow_model_optimization')]\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _arch():
    return {"name": "t", "input_size": [8, 8], "embedding_dim": 2, "nodes": [
        {"name": "a", "op": "conv", "input": "input", "kernel_size": [3, 3], "strides": [1, 1], "padding": "same",
         "filters": 2, "activation": "prelu"},
        {"name": "r", "op": "add", "inputs": ["a", "a"]}]}


def _weights():
    return {"w/a/kernel": np.ones((3, 3, 3, 2)), "w/a/bias": np.zeros(2), "w/a/alpha": np.full(2, 0.25)}


def test_twin_file_round_trip(tmp_path):
    path = str(tmp_path / "t.npz")
    x, e = np.random.rand(3, 8, 8, 3), np.random.rand(3, 2)
    twin_spec.write(path, _arch(), _weights(), x, e)
    arch, weights, xi, ei = twin_spec.read(path)
    assert arch["format"] == twin_spec.FORMAT and arch["nodes"] == _arch()["nodes"]
    np.testing.assert_allclose(weights["w/a/alpha"], 0.25)
    np.testing.assert_allclose(xi, x.astype(np.float32))
    np.testing.assert_allclose(ei, e.astype(np.float32))


@pytest.mark.parametrize("breakage, message", [
    (lambda a, w: a["nodes"][1].update(inputs=["a", "zzz"]), "not an earlier node"),
    (lambda a, w: a["nodes"][0].update(op="pool"), "unknown op"),
    (lambda a, w: w.pop("w/a/alpha"), "no alpha"),
    (lambda a, w: a["nodes"][0].update(activation="gelu"), "unknown activation"),
])
def test_twin_file_validation_names_the_problem(tmp_path, breakage, message):
    arch, weights = _arch(), _weights()
    breakage(arch, weights)
    with pytest.raises(twin_spec.TwinSpecError, match=message):
        twin_spec.write(str(tmp_path / "t.npz"), arch, weights)


def test_not_a_twin_file(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.zeros(2))
    with pytest.raises(twin_spec.TwinSpecError, match="no 'architecture'"):
        twin_spec.read(str(path))
    with pytest.raises(FileNotFoundError, match="no such twin file"):
        twin_spec.read(str(tmp_path / "missing.npz"))


def _numpy_forward(arch, weights, x):
    """The twin architecture evaluated by an independent NumPy/TF-op reading of the description."""
    import tensorflow as tf

    t = {"input": tf.constant(x, tf.float32)}
    for n in arch["nodes"]:
        if n["op"] == "add":
            t[n["name"]] = t[n["inputs"][0]] + t[n["inputs"][1]]
            continue
        k, b = weights[f"w/{n['name']}/kernel"], weights[f"w/{n['name']}/bias"]
        s = [1, *n["strides"], 1]
        pad = n["padding"].upper()
        y = (tf.nn.depthwise_conv2d(t[n["input"]], k, s, pad) if n["op"] == "depthwise"
             else tf.nn.conv2d(t[n["input"]], k, s, pad)) + b
        if n["activation"] == "prelu":
            y = tf.maximum(y, 0.0) + weights[f"w/{n['name']}/alpha"] * tf.minimum(y, 0.0)
        elif n["activation"] == "relu":
            y = tf.nn.relu(y)
        t[n["name"]] = y
    return tf.reshape(t[arch["nodes"][-1]["name"]], [len(x), -1]).numpy()


@pytest.mark.parametrize("batch_norm", [False, True])
def test_description_computes_the_keras_model(batch_norm):
    """The description (BN folded at inference statistics) evaluated independently = the Keras 3 model."""
    import keras

    from lrfr_tf.models import create_backbone
    from lrfr_tf.qat.describe import describe

    keras.utils.set_random_seed(1)
    model = create_backbone("mobilefacenet", stem_channels=8, stages=((2, 8, 2, 2), (2, 16, 1, 2)), head_channels=16,
                            embedding_dim=8, batch_norm=batch_norm, head="gdc")
    x = np.random.default_rng(0).uniform(-1, 1, (3, 112, 112, 3)).astype(np.float32)
    model(x)
    if batch_norm:  # non-trivial statistics so that folding matters
        rng = np.random.default_rng(2)
        for w in model.weights:
            if "moving_variance" in w.path or "gamma" in w.path:
                w.assign(rng.uniform(0.5, 2.0, w.shape).astype(np.float32))
            elif "moving_mean" in w.path or "beta" in w.path:
                w.assign(rng.normal(0, 0.3, w.shape).astype(np.float32))
    arch, weights = describe(model, model.preprocessing)
    assert sum(n["op"] == "add" for n in arch["nodes"]) == 1  # one stride-1 same-width bottleneck
    expected = np.asarray(model(x, training=False))
    got = _numpy_forward(arch, weights, x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_describe_refuses_other_backbones():
    import keras

    from lrfr_tf.qat.describe import describe

    inp = keras.Input((8, 8, 3))
    model = keras.Model(inp, keras.layers.GlobalAveragePooling2D()(inp))
    with pytest.raises(ValueError, match="no tf_keras twin for Functional"):
        describe(model, None)


def _cli(*args, timeout=300):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "lrfr_tf.qat", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.parametrize("args, needle", [
    ([], "give one step"),
    (["bake", "--out=X"], "give one step"),
    (["prepare"], "--out is required"),
    (["prepare", "--out={tmp}/o"], "--model is required"),
    (["prepare", "--model={tmp}/missing.tflite", "--out={tmp}/o"], "--model={tmp}/missing.tflite: no such file"),
    (["prepare", "--model={tmp}/model.h5", "--out={tmp}/o"], "unknown model format"),
    (["train", "--out={tmp}/o", "--steps=0"], "--steps"),
    (["finish", "--model={tmp}/model.h5", "--out={tmp}/o"], "unknown model format"),
    (["aeq", "--model={tmp}/model.tflite", "--out={tmp}/o"], "--tflite is required"),
    (["aeq", "--model={tmp}/model.tflite", "--tflite={tmp}/model.h5", "--out={tmp}/o"], "not a TFLite flatbuffer"),
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, args, needle):
    (tmp_path / "model.h5").write_bytes(b"not a model")
    (tmp_path / "model.tflite").write_bytes(b"\0" * 64)
    args = [a.format(tmp=tmp_path) for a in args]
    out = _cli(*args)
    assert out.returncode == 2, out.stderr[-1500:]
    lines = [l for l in out.stderr.strip().splitlines() if l.strip()]
    assert "Traceback" not in out.stderr
    assert needle.format(tmp=tmp_path) in lines[-1], lines


def test_cli_train_outside_the_qat_environment_says_where_to_run_it(tmp_path):
    try:
        import tf_keras  # noqa: F401
        pytest.skip("tf_keras is installed here: this is the qat environment")
    except ImportError:
        pass
    out = _cli("train", f"--out={tmp_path}")
    assert out.returncode == 2 and "runs in the qat environment" in out.stderr.strip().splitlines()[-1]


def test_cli_finish_without_a_trained_model_names_the_file(tmp_path, mobilefacenet_tflite):
    out = _cli("finish", f"--model={mobilefacenet_tflite}", f"--out={tmp_path}")
    assert out.returncode == 2
    assert f"{tmp_path}/qat_int8.tflite does not exist" in out.stderr.strip().splitlines()[-1]


@pytest.mark.slow  # a SavedModel, its fp32 conversion and an AEQ calibration of a small model
def test_aeq_static_int8_quantises_convs_and_keeps_prelu_float(tmp_path):
    import keras

    from lrfr_tf import model_metadata
    from lrfr_tf.eval.embedders import TFLiteEmbedder
    from lrfr_tf.export.serving_graph import build_archive
    from lrfr_tf.export.tflite import convert
    from lrfr_tf.models import create_backbone
    from lrfr_tf.qat import aeq

    keras.utils.set_random_seed(0)
    model = create_backbone("mobilefacenet", stem_channels=8, stages=((2, 8, 2, 2), (2, 16, 1, 2)), head_channels=16,
                            embedding_dim=8)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (24, 112, 112, 3)).astype(np.float32)
    model(x[:1])
    build_archive(model, model.preprocessing).write_out(str(tmp_path / "sm"), verbose=False)
    fp32 = convert(str(tmp_path / "sm"), "tflite_fp32")
    assert aeq.signature_input(fp32) == ("embed_normalized", "images")
    quantized = aeq.static_int8(fp32, x[:16])
    ops = aeq.describe(quantized)
    assert ops["integer_ops"].get("CONV_2D", 0) >= 5 and ops["integer_ops"].get("DEPTHWISE_CONV_2D", 0) >= 3
    assert ops["float_ops"].get("PRELU", 0) >= 5  # AEQ 0.10 has no PRELU: it stays float between (de)quantise ops
    path = tmp_path / "q.tflite"
    path.write_bytes(model_metadata.embed_in_tflite(quantized, {"format": "tflite_int8"}))  # re-serialised: loads
    got = TFLiteEmbedder(str(path), model.preprocessing).embed(np.clip((x[16:] * 128 + 127.5), 0, 255))
    ref = np.array(model(x[16:]))
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    cos = np.sum(got * ref, axis=1) / np.linalg.norm(got, axis=1)
    assert cos.mean() > 0.9, cos
