"""TFLite metadata: stored in the flatbuffer's metadata map, read back without TensorFlow."""

import json
import pathlib

import numpy as np
import pytest

from lrfr_tf import model_metadata

SHARED_MODEL = pathlib.Path(__file__).resolve().parents[2].parent / "shared/data/models/mobilefacenet/MobileFaceNet.tflite"


def _tiny_tflite(tmp_path) -> bytes:
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    def double(x):
        return {"y": 2.0 * x}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([double.get_concrete_function()])
    return converter.convert()


def test_embed_and_read_back_keeps_the_model_working(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    data = _tiny_tflite(tmp_path)
    assert model_metadata.read_from_tflite(data) is None
    meta = {"name": "x", "thresholds": [{"min_px": 12, "max_px": 16, "threshold": 0.3}], "size": [112, 112]}
    stored = model_metadata.embed_in_tflite(data, meta)
    assert model_metadata.read_from_tflite(stored) == meta
    # replacing keeps one entry
    again = model_metadata.embed_in_tflite(stored, {**meta, "name": "y"})
    assert model_metadata.read_from_tflite(again)["name"] == "y"
    interp = Interpreter(model_content=again)
    interp.allocate_tensors()
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    interp.set_tensor(inp["index"], np.array([[1, 2, 3, 4]], np.float32))
    interp.invoke()
    np.testing.assert_array_equal(interp.get_tensor(out["index"]), [[2, 4, 6, 8]])


def test_not_a_tflite_is_refused():
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        model_metadata.read_from_tflite(b"\x00" * 64, "junk.tflite")
    with pytest.raises(ValueError, match="junk.tflite"):
        model_metadata.embed_in_tflite(b"PK\x03\x04" * 8, {}, "junk.tflite")


def test_metadata_reader_imports_no_tensorflow(tmp_path):
    import subprocess
    import sys

    data = model_metadata.embed_in_tflite(_tiny_tflite(tmp_path), {"k": 1})
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    code = ("import sys; sys.modules['tensorflow'] = None\n"
            "from lrfr_tf import model_metadata\n"
            f"print(model_metadata.read_tflite_file({str(path)!r})['k'])\n"
            "assert 'keras' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def _with_buffers_outside(data: bytes) -> bytes:
    """``data`` rewritten the way ai-edge-quantizer writes large models: constant buffers after the flatbuffer,
    referenced by offset/size."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    def pack(model):
        builder = flatbuffers.Builder(len(data) + 1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    model = schema.ModelT.InitFromPackedBuf(data, 0)
    outside = [(b, bytes(bytearray(b.data))) for b in model.buffers if b.data is not None and len(b.data)]
    assert outside, "the test model has a constant"
    for b, _ in outside:
        b.data, b.offset, b.size = None, 1 << 40, 1 << 40  # placeholders of the final field width
    head = len(pack(model))
    start = -(-head // 16) * 16
    position = start
    for b, payload in outside:
        b.offset, b.size = position, len(payload)
        position += len(payload)
    packed = pack(model)
    assert len(packed) == head
    return packed + b"\0" * (start - head) + b"".join(p for _, p in outside)


def test_buffers_after_the_flatbuffer_survive_the_metadata(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    data = _with_buffers_outside(_tiny_tflite(tmp_path))
    for model in (data, model_metadata.embed_in_tflite(data, {"name": "x"})):
        interp = Interpreter(model_content=model)
        interp.allocate_tensors()
        (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
        interp.set_tensor(inp["index"], np.array([[1, 2, 3, 4]], np.float32))
        interp.invoke()
        np.testing.assert_array_equal(interp.get_tensor(out["index"]), [[2, 4, 6, 8]])
    with pytest.raises(ValueError, match="truncated file"):
        model_metadata.embed_in_tflite(data[:-4], {"name": "x"})
