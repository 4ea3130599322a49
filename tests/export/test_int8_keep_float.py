"""tflite.quantize_ranged(keep_float=...): the named ops stay float, everything else int8 (what
benchmarks/int8_sensitivity.py varies)."""

import importlib.util
import pathlib

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]


def _tensor_types(model_bytes):
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    model = fbu.convert_bytearray_to_object(bytearray(model_bytes))
    sg = model.subgraphs[0]
    return [(fbu.opcode_to_name(model, op.opcodeIndex), sg.tensors[op.outputs[0]].name.decode(),
             int(sg.tensors[op.outputs[0]].type)) for op in sg.operators]


def test_kept_ops_stay_float_and_the_rest_is_int8(tmp_path):
    import tensorflow as tf

    from lrfr_tf.eval.degradation import ResolutionDegradation
    from lrfr_tf.export import tflite
    from lrfr_tf.export.serving_graph import build_archive
    from lrfr_tf.preprocessing import Preprocessing
    from tests.export.conftest import faces, small_model

    pre = Preprocessing()
    model = small_model(pre)
    model(np.zeros((1, 112, 112, 3), np.float32))
    build_archive(model, pre).write_out(str(tmp_path / "sm"), verbose=False)
    degrade = ResolutionDegradation()
    calibration = tflite.calibration_inputs(faces(12), pre, lambda x, s: degrade(x, s), sizes=(8, 28, 112))
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "sm"), signature_keys=["embed_normalized"])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    converter.representative_dataset = lambda: tflite._representative(calibration)
    ranged, _ = tflite.ranged_float_model(converter, calibration)

    spec = importlib.util.spec_from_file_location("int8_sensitivity", REPO / "benchmarks" / "int8_sensitivity.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ops = bench.op_table(ranged)
    keep = bench.groups(ops)["every PRELU"]
    assert keep and len(keep) == sum(name == "PRELU" for _, name, _ in ops)

    FLOAT32, INT8 = 0, 9  # tflite TensorType
    full = _tensor_types(tflite.quantize_ranged(ranged, tf.int8))
    assert {t for name, _, t in full if name in ("CONV_2D", "PRELU")} == {INT8}
    mixed = _tensor_types(tflite.quantize_ranged(ranged, tf.int8, keep))
    prelu = [t for name, _, t in mixed if name == "PRELU"]
    convs = [t for name, _, t in mixed if name == "CONV_2D"]
    assert prelu and set(prelu) == {FLOAT32}  # kept in float
    assert set(convs) == {INT8}  # the rest still int8
    assert sum(name == "DEQUANTIZE" for name, _, _ in mixed) >= len(prelu)  # dequantised before each kept op
