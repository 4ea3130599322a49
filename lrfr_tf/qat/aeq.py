"""Main environment: ai-edge-quantizer (AEQ) static int8 (A8W8) of an existing float .tflite.

``static_int8`` runs AEQ's ``static_wi8_ai8`` recipe (min/max uniform quantisation: int8 per-channel
weights, int8 per-tensor activations from calibration ranges) on a float32 .tflite, calibrated on the
export's degraded faces (``lrfr_tf.export.tflite.calibration_inputs``). What AEQ does not quantise stays
float32 behind QUANTIZE / DEQUANTIZE ops: in ai-edge-quantizer 0.10 that is PRELU and L2_NORMALIZATION
(neither is in its op list), so for a PReLU MobileFaceNet the result is int8 convolutions with float PReLU
between them, not a full-integer model; the model's input and output stay float32 (``float_tensors`` in the
report lists what is float).
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np


def signature_input(model_bytes: bytes, signature: Optional[str] = None) -> tuple:
    """(signature key, input name) of a .tflite's signature (the first one unless ``signature``)."""
    from ai_edge_litert.interpreter import Interpreter

    signatures = Interpreter(model_content=model_bytes).get_signature_list()
    if not signatures:
        raise ValueError("the .tflite has no signature; ai-edge-quantizer calibrates through a signature "
                         "(export it with python -m lrfr_tf.export --formats=tflite_fp32)")
    key = signature or next(iter(signatures))
    if key not in signatures:
        raise ValueError(f"no signature {key!r} in the .tflite (it has {sorted(signatures)})")
    inputs = signatures[key]["inputs"]
    if len(inputs) != 1:
        raise ValueError(f"signature {key!r} has inputs {inputs}; expected one image input")
    return key, inputs[0]


def static_int8(float_model: bytes, calibration: np.ndarray, signature: Optional[str] = None) -> bytes:
    """AEQ static int8 (weights int8 per channel, activations int8 per tensor) of ``float_model``."""
    from ai_edge_quantizer import quantizer, recipe

    key, name = signature_input(float_model, signature)
    qt = quantizer.Quantizer(bytearray(float_model), recipe.static_wi8_ai8())
    samples = [{name: calibration[i:i + 1].astype(np.float32)} for i in range(len(calibration))]
    ranges = qt.calibrate({key: samples}, num_threads=2)
    result = qt.quantize(ranges, enable_progress_bar=False, enable_progress_report=False)
    return bytes(result.quantized_model)  # buffers after the flatbuffer: embed_in_tflite moves them inside


def describe(model_bytes: bytes) -> Dict[str, object]:
    """Which ops run in float in a quantised .tflite (by their output dtype)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_bytes)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    float_ops, int_ops = {}, {}
    for op in interp._get_ops_details():  # noqa: SLF001 (LiteRT lists ops only through this)
        out = tensors.get(op["outputs"][0]) if len(op["outputs"]) else None
        kind = float_ops if out is not None and np.dtype(out["dtype"]) == np.float32 else int_ops
        kind[op["op_name"]] = kind.get(op["op_name"], 0) + 1
    return {"float_ops": float_ops, "integer_ops": int_ops}
