"""TFLite conversion of an exported SavedModel's ``embed_normalized`` signature, in every precision.

Always ``TFLiteConverter.from_saved_model`` (``from_concrete_functions([cf], model)`` silently writes a
NaN model with Keras 3). Builtin ops only. The .tflite takes the normalised face at the model size
(float [N, h, w, 3]; for int8 the quantised tensor, scale and zero point in its input details) and
returns the L2-normalised embedding.

Formats:
  tflite_fp32     float32 weights and activations;
  tflite_fp16     float16 weights (dequantised at load; XNNPACK runs them in float32);
  tflite_dynamic  int8 weights, float activations (dynamic-range quantisation);
  tflite_int8     full-integer: int8 weights (per-channel) and activations, int8 input and output
                  (``io_dtype="uint8"`` for uint8 I/O), calibrated on faces degraded across the
                  resolutions the model serves (``calibration_faces``).
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, Optional, Sequence

import numpy as np

TFLITE_FORMATS = ("tflite_fp32", "tflite_fp16", "tflite_dynamic", "tflite_int8")

#: Sizes (px) calibration faces are degraded to before being brought back to the model size.
CALIBRATION_SIZES = (8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 56, 112)


def calibration_inputs(faces: np.ndarray, preprocessing, degrade: Callable[[np.ndarray, int], np.ndarray],
                       sizes: Sequence[int] = CALIBRATION_SIZES, seed: int = 0) -> np.ndarray:
    """Normalised model inputs [N, h, w, 3]: face i degraded to ``sizes[i % len(sizes)]`` (shuffled), then
    brought to the model size exactly as the evaluation harness does (``embed_prepare``)."""
    from lrfr_tf.eval.embedders import prepare_images

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(faces))
    out = []
    for k, size in enumerate(sizes):
        idx = order[k::len(sizes)]
        if idx.size:
            out.append(prepare_images(degrade(faces[idx], int(size)), preprocessing))
    return np.concatenate(out)[np.argsort(np.concatenate([order[k::len(sizes)] for k in range(len(sizes))]))]


def convert(saved_model_dir: str, fmt: str, calibration: Optional[np.ndarray] = None,
            io_dtype: str = "int8", signature: str = "embed_normalized") -> bytes:
    """The .tflite bytes of ``signature`` in format ``fmt``."""
    import tensorflow as tf

    if fmt not in TFLITE_FORMATS:
        raise ValueError(f"unknown TFLite format {fmt!r}; expected one of {', '.join(TFLITE_FORMATS)}")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if fmt == "tflite_fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif fmt == "tflite_dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif fmt == "tflite_int8":
        if calibration is None or len(calibration) == 0:
            raise ValueError("tflite_int8 needs calibration faces")
        if io_dtype not in ("int8", "uint8"):
            raise ValueError(f"int8 I/O dtype must be 'int8' or 'uint8', got {io_dtype!r}")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8 if io_dtype == "int8" else tf.uint8
        converter.inference_output_type = converter.inference_input_type
        converter.representative_dataset = lambda: _representative(calibration)
    return converter.convert()


def _representative(calibration: np.ndarray) -> Iterable:
    for i in range(len(calibration)):
        yield [calibration[i:i + 1].astype(np.float32)]


def describe_io(model_bytes: bytes) -> Dict[str, object]:
    """Input/output dtype, shape and quantisation of a .tflite, for the metadata."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_bytes)
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()

    def one(d):
        scale, zero = d["quantization"]
        return {"dtype": np.dtype(d["dtype"]).name, "shape": d.get("shape_signature", d["shape"]).tolist(),
                "quantization": {"scale": float(scale), "zero_point": int(zero)} if scale else None}

    return {"input": one(inp), "output": one(out)}
