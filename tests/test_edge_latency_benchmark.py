"""benchmarks/edge_latency.py on tiny graphs: the XNNPACK coverage it reports is the delegate's real partition
(int8 PRELU stays on LiteRT's builtin kernels, as in the full MobileFaceNet), and every figure it records is
finite and JSON-serialisable."""

import json
import math
import os

import numpy as np
import pytest

from benchmarks import edge_latency

SIZE = 112


def _tiny_tflite(path, activation: str, int8: bool) -> str:
    """conv 3x3/2 (8) -> act -> conv 1x1 (16) -> act -> mean: float [N, 112, 112, 3] -> [N, 16]."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    w1 = tf.constant(rng.normal(0, 0.3, (3, 3, 3, 8)).astype(np.float32))
    w2 = tf.constant(rng.normal(0, 0.3, (1, 1, 8, 16)).astype(np.float32))

    def act(y):
        if activation == "relu":
            return tf.nn.relu(y)
        alpha = tf.constant(np.full((1, 1, y.shape[-1]), 0.25, np.float32))
        return tf.nn.relu(y) + -alpha * tf.nn.relu(-y)  # the pattern the converter fuses into one PRELU op

    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32)])
        def embed(self, x):
            y = act(tf.nn.conv2d(x, w1, 2, "SAME"))
            y = act(tf.nn.conv2d(y, w2, 1, "SAME"))
            return tf.reduce_mean(y, axis=[1, 2])

    module = Tiny()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.embed.get_concrete_function()], module)
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
        converter.representative_dataset = lambda: ([rng.normal(0, 1, (1, SIZE, SIZE, 3)).astype(np.float32)]
                                                    for _ in range(4))
    path.write_bytes(converter.convert())
    return str(path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("edge_latency")
    return {(act, int8): _tiny_tflite(root / f"{act}_{'int8' if int8 else 'fp32'}.tflite", act, int8)
            for act in ("prelu", "relu") for int8 in (False, True)}


def _coverage(path, kernels):
    return edge_latency.delegate_coverage(edge_latency.make_interpreter(path, kernels, 1))


def test_coverage_is_the_xnnpack_partition(tiny):
    float_prelu = _coverage(tiny["prelu", False], "xnnpack")
    assert float_prelu["op_counts"] == {"CONV_2D": 2, "MEAN": 1, "PRELU": 2}
    assert (float_prelu["delegated_ops"], float_prelu["partitions"], float_prelu["not_delegated"]) == (5, 1, {})
    # XNNPACK takes float PRELU only: each int8 PRELU splits the graph, conv | PRELU | conv | PRELU | mean
    int8_prelu = _coverage(tiny["prelu", True], "xnnpack")
    assert (int8_prelu["delegated_ops"], int8_prelu["partitions"], int8_prelu["not_delegated"]) == (3, 3, {"PRELU": 2})
    int8_relu = _coverage(tiny["relu", True], "xnnpack")  # ReLU is fused into the int8 convs
    assert (int8_relu["ops"], int8_relu["delegated_ops"], int8_relu["partitions"]) == (3, 3, 1)
    builtin = _coverage(tiny["prelu", True], "builtin")
    assert (builtin["delegated_ops"], builtin["partitions"], builtin["not_delegated"]) == (0, 0, builtin["op_counts"])


def test_measure_records_finite_figures_for_every_model_kernels_and_threads(tiny, tmp_path):
    models = [dict(name="reference", family="reference", format="reference", path=tiny["prelu", False], file="ref")]
    for (act, int8), path in tiny.items():
        fmt = "tflite_int8" if int8 else "tflite_fp32"
        models.append(dict(name=f"{act}_{fmt}", family=act, format=fmt, path=path, file=f"{act}/{fmt}"))
    faces = np.random.default_rng(1).uniform(-1, 1, (edge_latency.CHECK_FACES, SIZE, SIZE, 3)).astype(np.float32)
    timing = edge_latency.measure(models, faces, [1, 2], runs=5, warmup=1, block=2, log=lambda *_: None)
    assert timing["rounds"] == 3
    doc = json.loads(json.dumps(dict(meta=dict(threads=[1, 2], loadavg_start=[0.0] * 3, ai_edge_litert="x", cpu_count=2,
                                               **timing), models=models,
                                     summary=edge_latency.summary(models, [1, 2]))))
    for m in doc["models"]:
        assert "path" not in m and m["outputs_finite"] and m["size_bytes"] > 0
        for kernels in edge_latency.KERNELS:
            for n in ("1", "2"):
                row = m["latency"][kernels][n]
                assert row["runs"] == 5 and row["batch"] == 1
                assert 0 < row["ms_per_face_min"] <= row["ms_per_face_median"] <= row["ms_per_face_p90"]
                assert all(math.isfinite(v) for v in row.values())
        assert m["latency"]["xnnpack"]["1"]["speedup_vs_builtin"] > 0
    reference, prelu_fp32, prelu_int8 = doc["models"][:3]
    assert reference["latency"]["xnnpack"]["2"]["ratio_vs_reference"] == 1.0
    assert prelu_fp32["cosine_vs_family_fp32"]["min"] == pytest.approx(1.0)
    assert reference["cosine_vs_family_fp32"]["min"] == pytest.approx(1.0)  # the same file as prelu fp32 here
    assert prelu_int8["input"]["dtype"] == "int8" and prelu_int8["xnnpack"]["not_delegated"] == {"PRELU": 2}
    assert set(doc["summary"]["prelu_vs_relu"]) == {"tflite_fp32", "tflite_int8"}
    assert doc["summary"]["fastest_xnnpack"]["relu"]["1"]["format"] in ("tflite_fp32", "tflite_int8")
    edge_latency.print_table(doc)
    edge_latency.plot(doc, str(tmp_path / "edge.png"))
    assert (tmp_path / "edge.png").stat().st_size > 0


def test_gated_exports_are_found_in_failed_folders_and_tabled(tmp_path):
    """--gate_data: an export whose gate failed (kept as failed-*) is reused and measured; the README table has
    one row per format with the gate's figures and verdict from the same run."""
    import json

    formats = ["saved_model", "tflite_fp32"]
    cos = {str(s): {"mean": 0.99, "min": 0.9, "p1": 0.95} for s in (112, 8, 14, 28)}
    fmt_gate = lambda ok: {"cosine": cos, "accuracy": {"hr": 0.99, "cr_8": 0.6}, "passed": ok,  # noqa: E731
                           "failures": [] if ok else ["8 px: mean cosine 0.9000 < 0.98"]}
    gate = {"source": {"accuracy": {"hr": 0.99, "cr_8": 0.6}}, "data": {"protocols": ["hr", "cr_8"]},
            "formats": {"saved_model": fmt_gate(True), "tflite_fp32": fmt_gate(False)}, "passed": False}
    for folder, created, g in (("1", "2026-01-01", None), ("failed-2-x", "2026-01-02", gate)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "export.json").write_text(json.dumps({"formats": {f: {} for f in formats},
                                                                   "created": created, "gate": g}))
    assert edge_latency.complete_export(str(tmp_path), formats) == str(tmp_path / "1")
    assert edge_latency.complete_export(str(tmp_path), formats, gated=True) == str(tmp_path / "failed-2-x")
    latency = {"xnnpack": {"1": {"ms_per_face_median": 10.0, "ratio_vs_reference": 0.5}}}
    doc = {"meta": {"threads": [1], "gate": {"prelu": gate}}, "saved_model_gate": gate["formats"]["saved_model"],
           "models": [{"family": "reference", "latency": {"xnnpack": {"1": {"ms_per_face_median": 20.0}}}},
                      {"family": "prelu", "format": "tflite_fp32", "size_bytes": 5_240_000, "latency": latency,
                       "gate": gate["formats"]["tflite_fp32"]}]}
    table = edge_latency.readme_table(doc).splitlines()
    assert len(table) == 5 and "reference .tflite: 20.0" in table[2]
    assert table[3].startswith("| SavedModel |") and "| pass |" in table[3]
    assert table[4].startswith("| tflite_fp32 | 5.24 MB | 0.99000 / 0.99000") and "fail: 8 px: mean cosine" in table[4]
    assert table[4].endswith("| 10.0 (0.50) |")


def test_serving_base_serves_a_failed_export_as_version_1(tmp_path):
    version = tmp_path / "exports" / "mobilefacenet" / "3"
    failed = tmp_path / "exports" / "mobilefacenet" / "failed-4-20261203T125541"
    for d in (version, failed):
        d.mkdir(parents=True)
        (d / "saved_model.pb").write_bytes(b"x")
    assert edge_latency.serving_base(str(version), str(tmp_path)) == str(version.parent)
    base = edge_latency.serving_base(str(failed), str(tmp_path / "work"))
    assert base.endswith("serving/mobilefacenet") and os.listdir(base) == ["1"]
    assert os.path.realpath(os.path.join(base, "1")) == str(failed.resolve())
    from lrfr_tf.serve.model_versions import SAVED_MODEL_FILES
    assert any(os.path.isfile(os.path.join(base, "1", f)) for f in SAVED_MODEL_FILES)
