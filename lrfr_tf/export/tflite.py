"""TFLite conversion of an exported SavedModel's ``embed_normalized`` signature, in every precision.

Always ``TFLiteConverter.from_saved_model`` (``from_concrete_functions([cf], model)`` silently writes a
NaN model with Keras 3). Builtin ops only. The .tflite takes the normalised face at the model size
(float [N, h, w, 3]; for int8 the quantised tensor, scale and zero point in its input details) and
returns the L2-normalised embedding.

Formats:
  tflite_fp32     float32 weights and activations;
  tflite_fp16     float16 weights (dequantised at load; XNNPACK runs them in float32);
  tflite_dynamic  int8 weights (per-channel), float32 activations and compute: weight-only int8 (each
                  quantised weight feeds a DEQUANTIZE op), made with ai-edge-quantizer's weight-only
                  recipe from the fp32 model. Not TFLite's hybrid
                  dynamic-range kernels, which also quantise activations per tensor at run time: on the
                  pretrained MobileFaceNet they kept only 0.994 min cosine at 8 px even after the
                  preparation below, under the gate's 0.999 (see ``WEIGHT_ONLY_REASON``);
  tflite_int8     full-integer: int8 weights (per-channel) and activations, int8 input and output
                  (``io_dtype="uint8"`` for uint8 I/O), calibrated on faces degraded across the
                  resolutions the model serves (``calibration_faces``), activation ranges of least
                  squared error (``lrfr_tf.export.activation_ranges``); every op runs in int8.

The quantised formats are converted from a *prepared* copy of the model
(``write_quantization_source``, ``lrfr_tf.export.equalization``): cross-layer equalisation of the
per-channel activation ranges into depthwise convolutions, and kernels rounded to their int8 grid
with bias correction. The float function is unchanged; the source model's weights are restored.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, Optional, Sequence

import numpy as np

TFLITE_FORMATS = ("tflite_fp32", "tflite_fp16", "tflite_dynamic", "tflite_int8")
#: Formats converted from the prepared (equalised, int8-snapped) model.
QUANTIZED_FORMATS = ("tflite_dynamic", "tflite_int8")

WEIGHT_ONLY_REASON = ("TFLite hybrid dynamic-range kernels quantise activations per tensor at run time; on the "
                      "pretrained MobileFaceNet that kept 0.9943 min cosine at 8 px (gate 0.999) after equalisation "
                      "and 0.766 before, so weights are dequantised at load and computed in float32")

#: Sizes (px) calibration faces are degraded to before being brought back to the model size.
CALIBRATION_SIZES = (8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 56, 112)


def calibration_inputs(faces: np.ndarray, preprocessing, degrade: Callable[[np.ndarray, int], np.ndarray],
                       sizes: Sequence[int] = CALIBRATION_SIZES, seed: int = 0) -> np.ndarray:
    """Normalised model inputs [N, h, w, 3]: each face degraded to one of ``sizes`` (a seeded, balanced random
    assignment), then brought to the model size as the evaluation harness does (``prepare_images``). Grouped by
    size: calibration statistics do not depend on the order."""
    from lrfr_tf.eval.embedders import prepare_images

    size_of = np.asarray(sizes)[np.random.default_rng(seed).permutation(len(faces)) % len(sizes)]
    return np.concatenate([prepare_images(degrade(faces[size_of == s], int(s)), preprocessing)
                           for s in sizes if np.any(size_of == s)])


def convert(saved_model_dir: str, fmt: str, calibration: Optional[np.ndarray] = None,
            io_dtype: str = "int8", signature: str = "embed_normalized", least_error_ranges: bool = True,
            info: Optional[dict] = None) -> bytes:
    """The .tflite bytes of ``signature`` in format ``fmt``. tflite_int8: activation ranges of least squared
    error (``least_error_ranges``, else the calibrator's min/max); what was done is added to ``info``."""
    import tensorflow as tf

    if fmt not in TFLITE_FORMATS:
        raise ValueError(f"unknown TFLite format {fmt!r}; expected one of {', '.join(TFLITE_FORMATS)}")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if fmt == "tflite_fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
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
        if least_error_ranges:
            return _int8_with_least_error_ranges(converter, calibration, converter.inference_input_type, info)
    data = converter.convert()
    return weight_only_int8(data) if fmt == "tflite_dynamic" else data


def _int8_with_least_error_ranges(converter, calibration: np.ndarray, io_type, info: Optional[dict]) -> bytes:
    """``converter.convert()`` of a full-integer converter, with the calibrator's min/max activation ranges
    replaced by least-squared-error ones (``lrfr_tf.export.activation_ranges``) before quantising."""
    ranged, summary = ranged_float_model(converter, calibration)
    if info is not None:
        info.update(summary)
    return quantize_ranged(ranged, io_type)


def ranged_float_model(converter, calibration: np.ndarray):
    """(the calibrated float .tflite of a full-integer ``converter`` with least-squared-error activation ranges,
    summary): what ``quantize_ranged`` turns into the int8 model."""
    from lrfr_tf.export.activation_ranges import set_least_error_ranges

    converter._experimental_calibrate_only = True  # the float model with calibrated min/max per tensor
    return set_least_error_ranges(converter.convert(), calibration)


def quantize_ranged(ranged: bytes, io_type, keep_float: Sequence[str] = ()) -> bytes:
    """The int8 model of ``ranged`` (``ranged_float_model``): what TFLiteConverter.convert() runs after
    calibrating (the int8 op set, int8/uint8 I/O). ``keep_float``: output tensor names of ops left in float
    (dequantise before, quantise after; benchmarks/int8_sensitivity.py measures what that buys)."""
    from tensorflow.lite.python.convert import mlir_quantize

    return bytes(mlir_quantize(ranged, False, input_data_type=io_type, output_data_type=io_type,
                               denylisted_nodes=list(keep_float) or None))


def weight_only_int8(float_model: bytes) -> bytes:
    """``float_model`` with every conv / fully-connected weight int8 per-channel (symmetric, max |w| / 127)
    and explicitly dequantised: float32 activations and compute (ai-edge-quantizer weight-only recipe)."""
    try:
        from ai_edge_quantizer import quantizer
    except ImportError as e:  # the ``edge`` / ``dev`` extras install it
        raise ImportError("tflite_dynamic needs ai-edge-quantizer (pip install ai-edge-quantizer)") from e

    weights = {"num_bits": 8, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT"}
    recipe = [{"regex": ".*", "operation": "*", "algorithm_key": "min_max_uniform_quantize",
               "op_config": {"weight_tensor_config": weights, "compute_precision": "FLOAT", "explicit_dequantize": True,
                             "min_weight_elements": 0}}]
    result = quantizer.Quantizer(bytearray(float_model), recipe).quantize(enable_progress_bar=False,
                                                                          enable_progress_report=False)
    return bytes(result.quantized_model)


def write_quantization_source(model, preprocessing, calibration: np.ndarray, directory: str) -> Dict[str, object]:
    """The SavedModel the quantised formats convert from: ``model`` equalised and int8-snapped
    (``lrfr_tf.export.equalization``), written to ``directory``; ``model`` itself is left unchanged.
    Returns what was done, for the metadata."""
    from lrfr_tf.export import equalization as eq
    from lrfr_tf.export.serving_graph import build_archive

    if calibration is None or len(calibration) == 0:
        raise ValueError("the quantised formats need calibration faces")
    with eq.weights_restored(model):
        pairs = eq.equalize(model, calibration)
        snapped = eq.snap_weights(model, calibration)
        build_archive(model, preprocessing).write_out(directory, verbose=False)
    return {"equalized_pairs": pairs, "bias_corrected_convs": snapped, "calibration_inputs": int(len(calibration))}


def describe_quantization(fmt: str, preparation: Optional[Dict[str, object]],
                          conversion: Optional[Dict[str, object]] = None) -> Optional[Dict[str, object]]:
    """What a format's numbers are, for its metadata (None for the float formats)."""
    if fmt == "tflite_dynamic":
        return {"weights": "int8 per-channel symmetric", "activations": "float32", "compute": "float32",
                "method": "weight-only (ai-edge-quantizer)", "why_not_hybrid": WEIGHT_ONLY_REASON,
                "preparation": preparation}
    if fmt == "tflite_int8":
        return {"weights": "int8 per-channel symmetric",
                "activations": "int8 per-tensor, least-squared-error ranges over the calibration faces",
                "compute": "int8, every op", "method": "full-integer post-training (TFLiteConverter)",
                "preparation": preparation, "conversion": conversion or None}
    return None


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
