"""int8 with ops kept in float: ``tflite.quantize_ranged(keep_float=...)`` (what benchmarks/int8_sensitivity.py
varies) and the exporter's ``float_stem`` search."""

import importlib.util
import pathlib

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
FLOAT32, INT8 = 0, 9  # tflite TensorType


def _tensor_types(model_bytes):
    from lrfr_tf.export.tflite import op_outputs
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    model = fbu.convert_bytearray_to_object(bytearray(model_bytes))
    types = [int(model.subgraphs[0].tensors[op.outputs[0]].type) for op in model.subgraphs[0].operators]
    return [(name, out, t) for (_, name, out), t in zip(op_outputs(model_bytes), types)]


@pytest.fixture(scope="module")
def ranged(tmp_path_factory):
    """(calibrated float .tflite of a small MobileFaceNet with least-error ranges, its calibration inputs)."""
    import tensorflow as tf

    from lrfr_tf.eval.degradation import ResolutionDegradation
    from lrfr_tf.export import tflite
    from lrfr_tf.export.serving_graph import build_archive
    from lrfr_tf.preprocessing import Preprocessing
    from tests.export.conftest import faces, small_model

    tmp = tmp_path_factory.mktemp("int8")
    pre = Preprocessing()
    model = small_model(pre)
    model(np.zeros((1, 112, 112, 3), np.float32))
    build_archive(model, pre).write_out(str(tmp / "sm"), verbose=False)
    degrade = ResolutionDegradation()
    calibration = tflite.calibration_inputs(faces(12), pre, lambda x, s: degrade(x, s), sizes=(8, 28, 112))
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp / "sm"), signature_keys=["embed_normalized"])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    converter.representative_dataset = lambda: tflite._representative(calibration)
    return tflite.ranged_float_model(converter, calibration)[0], calibration


def test_kept_ops_stay_float_and_the_rest_is_int8(ranged):
    import tensorflow as tf

    from lrfr_tf.export import tflite

    model, _ = ranged
    spec = importlib.util.spec_from_file_location("int8_sensitivity", REPO / "benchmarks" / "int8_sensitivity.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ops = tflite.op_outputs(model)
    keep = bench.groups(ops)["every PRELU"]
    assert keep and len(keep) == sum(name == "PRELU" for _, name, _ in ops)

    full = _tensor_types(tflite.quantize_ranged(model, tf.int8))
    assert {t for name, _, t in full if name in ("CONV_2D", "PRELU")} == {INT8}
    mixed = _tensor_types(tflite.quantize_ranged(model, tf.int8, keep))
    prelu = [t for name, _, t in mixed if name == "PRELU"]
    convs = [t for name, _, t in mixed if name == "CONV_2D"]
    assert prelu and set(prelu) == {FLOAT32}  # kept in float
    assert set(convs) == {INT8}  # the rest still int8
    assert sum(name == "DEQUANTIZE" for name, _, _ in mixed) >= len(prelu)  # dequantised before each kept op


def test_float_stem_takes_the_smallest_stem_that_meets_the_check(ranged):
    import tensorflow as tf

    from lrfr_tf.export import tflite

    model, calibration = ranged
    ops = [out for _, name, out in tflite.op_outputs(model) if name not in ("RESHAPE", "L2_NORMALIZATION")]
    # A check every candidate meets: no float op at all.
    data, stem = tflite.float_stem(model, calibration, tf.int8, candidates=(0, 3), check={"mean": -1, "p1": -1})
    assert stem["met"] and stem["float_ops"] == [] and [r["float_ops"] for r in stem["tried"]] == [0]
    assert {t for name, _, t in _tensor_types(data) if name == "CONV_2D"} == {INT8}
    # A check none can meet: every candidate tried, the last kept, "met" false (the export gate decides).
    data, stem = tflite.float_stem(model, calibration, tf.int8, candidates=(0, 3), check={"mean": 1.5, "p1": 1.5})
    assert not stem["met"] and stem["float_ops"] == ops[:3] and [r["float_ops"] for r in stem["tried"]] == [0, 3]
    types = {out: t for _, out, t in _tensor_types(data)}
    assert [types[o] for o in ops[:3]] == [FLOAT32] * 3 and types[ops[3]] == INT8
    # the cosines it reports are the float model's against the int8 one, recomputed here
    y, ref = tflite._run(data, calibration), tflite._run(model, calibration)
    cos = np.sum(y * ref, 1) / (np.linalg.norm(y, axis=1) * np.linalg.norm(ref, axis=1))
    assert stem["tried"][-1]["mean_cosine"] == pytest.approx(cos.mean(), abs=1e-6)
    assert stem["tried"][-1]["p1_cosine"] == pytest.approx(np.percentile(cos, 1), abs=1e-6)
    # a fraction (< 1) is that share of the ops, tried in size order with the counts
    data, stem = tflite.float_stem(model, calibration, tf.int8, candidates=(0.5, 1), check={"mean": 1.5, "p1": 1.5})
    half = int(round(0.5 * len(ops)))
    assert [r["float_ops"] for r in stem["tried"]] == [1, half] and stem["float_ops"] == ops[:half]
