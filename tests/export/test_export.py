"""lrfr_tf.export: serving signatures against the harness, the versioned layout, the gate, bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.export.conftest import SAMPLE_LFW, faces, small_model

from lrfr_tf import model_metadata
from lrfr_tf.eval.embedders import KerasEmbedder, load_embedder
from lrfr_tf.preprocessing import SPHEREFACE_112X96


def _saved_model(model, pre, tmp_path):
    from lrfr_tf.export.serving_graph import build_archive

    path = tmp_path / "sm"
    build_archive(model, pre).write_out(str(path), verbose=False)
    import tensorflow as tf

    return tf.saved_model.load(str(path)), path


@pytest.mark.parametrize("pre", [None, SPHEREFACE_112X96], ids=["arcface", "sphereface_112x96"])
def test_serving_signatures_compute_the_harness_embedding(tmp_path, pre):
    """uint8 crops of any size through serving_default == the harness (crop, resize, normalise) + model."""
    import tensorflow as tf

    model = small_model(pre)
    reference = KerasEmbedder(model)
    loaded, _ = _saved_model(model, reference.preprocessing, tmp_path)
    assert {"serving_default", "embed", "verify", "embed_float32", "embed_normalized"} <= set(loaded.signatures)
    for name in ("serving_default", "embed"):
        fn = loaded.signatures[name]
        assert set(fn.structured_input_signature[1]) == {"images"}
        assert fn.structured_input_signature[1]["images"].dtype == tf.uint8
        assert set(fn.structured_outputs) == {"embedding"}
    assert set(loaded.signatures["verify"].structured_input_signature[1]) == {"images_a", "images_b"}
    assert set(loaded.signatures["verify"].structured_outputs) == {"similarity"}
    for size in [(112, 112), (40, 40), (57, 50)]:
        x = faces(4, size)
        expected = reference.embed(x)
        got = loaded.signatures["serving_default"](images=tf.constant(x))["embedding"].numpy()
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cos = np.sum(expected * got, axis=1)
        assert cos.min() >= 0.99999, (size, cos)
        as_float = loaded.signatures["embed_float32"](images=tf.constant(x.astype(np.float32)))["embedding"].numpy()
        np.testing.assert_allclose(as_float, got, atol=1e-6)
    a, b = faces(3, (112, 112), seed=1), faces(3, (30, 30), seed=2)
    sim = loaded.signatures["verify"](images_a=tf.constant(a), images_b=tf.constant(b))["similarity"].numpy()
    np.testing.assert_allclose(sim, np.sum(reference.embed(a) * reference.embed(b), axis=1), atol=1e-5)


def test_saved_model_cli_lists_readable_names(tmp_path):
    model = small_model()
    _, path = _saved_model(model, model.preprocessing, tmp_path)
    out = subprocess.run(["saved_model_cli", "show", "--dir", str(path), "--all"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    for name in ("inputs['images']", "outputs['embedding']", "inputs['images_a']", "outputs['similarity']",
                 "signature_def['serving_default']", "signature_def['verify']"):
        assert name in out.stdout
    assert "args_0" not in out.stdout


def _run_export(*args, timeout=900):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "lrfr_tf.export", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.slow  # two CLI exports in fresh processes
def test_cli_writes_versions_never_overwrites(tmp_path, small_keras):
    out = tmp_path / "exports"
    args = [f"--model={small_keras}", f"--out={out}", "--formats=saved_model,tflite_fp32", "--no_gate"]
    first = _run_export(*args)
    assert first.returncode == 0, first.stderr
    version = out / "small" / "1"
    assert (version / "saved_model.pb").is_file() and (version / "tflite" / "small_fp32.tflite").is_file()
    meta = model_metadata.read_tflite_file(str(version / "tflite" / "small_fp32.tflite"))
    assert meta["gate"] == "disabled (--no_gate)" and meta["format"] == "tflite_fp32"
    assert meta["embedding_dim"] == 16 and meta["input"]["size"] == [112, 112] and meta["thresholds"] == []
    assert json.loads((version / "assets" / "lrfr_export.json").read_text())["input"]["contract"] == "uint8_pixels_any_size"
    assert (out / "export.log").is_file()
    second = _run_export(*args)
    assert second.returncode == 0, second.stderr
    assert sorted(os.listdir(out / "small")) == ["1", "2"]  # nothing temporary left, version 1 untouched
    # Both exports evaluate through the harness like the source.
    x = faces(4)
    ref = load_embedder(str(small_keras)).embed(x)
    for path in (version, version / "tflite" / "small_fp32.tflite"):
        got = load_embedder(str(path)).embed(x)
        assert np.sum(ref * got, axis=1).min() >= 0.99999


def test_bad_input_is_named_before_any_work(tmp_path, small_keras):
    import keras

    from lrfr_tf.export.exporter import list_images, parse_formats
    from lrfr_tf.export.parity import GateData
    from lrfr_tf.export.sources import load_source, resolve_source

    empty = tmp_path / "empty"
    empty.mkdir()
    readme = tmp_path / "README.md"
    readme.write_text("x")
    with pytest.raises(FileNotFoundError, match="nope.keras: no such file"):
        resolve_source(str(tmp_path / "nope.keras"))
    with pytest.raises(ValueError, match="unknown model format '.md'"):
        resolve_source(str(readme))
    with pytest.raises(ValueError, match="neither a SavedModel"):
        resolve_source(str(empty))
    with pytest.raises(ValueError, match="--formats: unknown format"):
        parse_formats(["saved_model", "tflite_int9"])
    with pytest.raises(ValueError, match="--calibration_data: no .jpg/.jpeg/.png images under"):
        list_images(str(empty), "--calibration_data")
    with pytest.raises(FileNotFoundError, match="pairs"):
        GateData(str(empty))
    inp = keras.Input((112, 112, 3))
    keras.Model(inp, keras.layers.Conv2D(4, 3)(inp)).save(tmp_path / "bad_output.keras")
    with pytest.raises(ValueError, match=r"output shape \[2, 110, 110, 4\] for a batch of 2; expected \[N, D\]"):
        load_source(str(tmp_path / "bad_output.keras"), preprocessing=small_model().preprocessing)


@pytest.mark.parametrize("args, message", [
    (["--model={missing}"], "nope.keras: no such file"),
    (["--model={src}", "--calibration_data={empty}"], "--calibration_data: no .jpg/.jpeg/.png images"),
    # dynamic is calibrated too (equalisation, bias correction): the folder is checked for it as for int8
    (["--model={src}", "--calibration_data={empty}", "--formats=tflite_dynamic"],
     "--calibration_data: no .jpg/.jpeg/.png images"),
])
def test_cli_bad_input_one_line_exit_2_nothing_written(tmp_path, small_keras, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    fill = dict(missing=tmp_path / "nope.keras", src=small_keras, empty=empty)
    out = tmp_path / "exports"
    result = _run_export(*[a.format(**fill) for a in args], f"--out={out}", "--no_gate", timeout=600)
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (out / "small").exists()


@pytest.mark.slow  # two exports and four harness evaluations: about 60 s on a quiet machine
def test_gate_passes_float_formats_and_fails_a_corrupted_weight(tmp_path, monkeypatch):
    import keras

    from lrfr_tf.export import exporter, serving_graph
    from lrfr_tf.export.parity import GateData
    from lrfr_tf.export.sources import load_source

    model = small_model()
    model(np.zeros((1, 112, 112, 3), np.float32))
    model.save(tmp_path / "m.keras")
    source = load_source(str(tmp_path / "m.keras"))
    data = GateData(str(SAMPLE_LFW), num_faces=24)
    report = exporter.export_model(source, str(tmp_path / "out"), formats=["saved_model", "tflite_fp32"], gate_data=data,
                                   log=lambda *a: None)
    gate = report["gate"]
    assert gate["passed"] and set(gate["formats"]) == {"saved_model", "tflite_fp32"}
    for fmt in gate["formats"].values():
        assert fmt["cosine"]["8"]["min"] >= 0.99999 and fmt["accuracy"] == gate["source"]["accuracy"]
    assert (tmp_path / "out" / "m" / "1" / "gate.png").is_file()

    # The same export of a model with one damaged weight must fail the gate and leave no version.
    broken = keras.models.clone_model(model)
    broken.set_weights(model.get_weights())
    kernel = broken.conv_units()[3].conv.kernel
    kernel.assign(kernel.numpy() * np.random.default_rng(0).normal(1.0, 0.5, kernel.shape).astype(np.float32))
    original = serving_graph.build_archive
    monkeypatch.setattr(serving_graph, "build_archive", lambda m, pre: original(broken, pre))
    with pytest.raises(exporter.GateFailed) as failed:
        exporter.export_model(source, str(tmp_path / "out"), formats=["tflite_fp32"], gate_data=data,
                              log=lambda *a: None)
    assert not failed.value.report["passed"]
    assert all("min cosine" in " ".join(r["failures"]) for r in failed.value.report["formats"].values())
    names = os.listdir(tmp_path / "out" / "m")
    assert "2" not in names and any(n.startswith("failed-2-") for n in names)


@pytest.mark.slow
def test_lrfr_export_is_a_source_again(tmp_path, small_keras):
    """A SavedModel export re-exports (through embed_normalized) to the same function."""
    from lrfr_tf.export import exporter
    from lrfr_tf.export.sources import load_source

    first = exporter.export_model(load_source(str(small_keras)), str(tmp_path / "a"), formats=["saved_model"], gate=False,
                                  log=lambda *a: None)
    again = load_source(first["path"])
    assert again.kind == "saved_model" and again.embedding_dim == 16
    x = faces(3)
    ref = load_embedder(str(small_keras)).embed(x)
    got = KerasEmbedder(again.model, again.preprocessing).embed(x)
    assert np.sum(ref * got, axis=1).min() >= 0.99999
