"""LiteRT (``ai_edge_litert``) without TensorFlow: reading a .tflite file, opening an interpreter, and moving
numbers across quantised tensors. Shared by the evaluation harness's TFLite embedder and the edge runtime."""

from __future__ import annotations

import os

import numpy as np

from lrfr_tf.model_metadata import check_tflite


def read_tflite_bytes(path: str, what: str = "--model") -> bytes:
    """The bytes of a .tflite file; FileNotFoundError / ValueError naming ``what`` and the file when it is
    missing or not a TFLite flatbuffer."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}={path}: no such file")
    with open(path, "rb") as f:
        data = f.read()
    check_tflite(data, f"{what}={path}")
    return data


def open_interpreter(path: str, num_threads: int = 1, what: str = "--model", data: bytes | None = None):
    """An allocated ``ai_edge_litert`` Interpreter for ``path`` (``data``: its bytes, if already read)."""
    from ai_edge_litert.interpreter import Interpreter

    data = read_tflite_bytes(path, what) if data is None else data
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"--num_threads={num_threads}: expected >= 1")
    try:
        interpreter = Interpreter(model_content=data, num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise ValueError(f"{what}={path}: LiteRT cannot load it ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return interpreter


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float values -> the tensor's dtype: integer tensors use ``round(x / scale + zero_point)``, saturated."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.integer):
        scale, zero = detail["quantization"]
        info = np.iinfo(dtype)
        x = np.clip(np.round(np.asarray(x, np.float32) / scale + zero), info.min, info.max)
    return np.ascontiguousarray(x, dtype=dtype)


def dequantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """A tensor's values as float32: integer tensors as ``(q - zero_point) * scale``."""
    if np.issubdtype(x.dtype, np.integer):
        scale, zero = detail["quantization"]
        return (x.astype(np.float32) - zero) * scale
    return np.array(x, np.float32)
