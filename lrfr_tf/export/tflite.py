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
  tflite_int8     int8 weights (per-channel) and activations, int8 input and output (``io_dtype="uint8"``
                  for uint8 I/O), calibrated on faces degraded across the resolutions the model serves
                  (``calibration_faces``), activation ranges of least squared error
                  (``lrfr_tf.export.activation_ranges``). Every op runs in int8 except a float stem when
                  one is needed (``float_stem``): the first K ops in graph order, K the smallest of
                  ``FLOAT_STEM_CANDIDATES`` whose int8 model keeps ``STEM_CHECK`` cosine to the float model
                  on the calibration faces. Measured on the pretrained MobileFaceNet
                  (benchmarks/int8_sensitivity.py, 150 held-out CelebA faces, mean / 1st-percentile cosine
                  at 8 px): every op int8 0.948 / 0.883; the 5-op stem in float 0.986 / 0.964; every PReLU
                  (33 ops) in float 0.949; the 5 head ops 0.948: the error enters at the full-resolution
                  stem and the rest of the network carries it.

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


#: Leading ops (graph order) tried in float by ``float_stem``, smallest first: a count, or a fraction (< 1) of the
#: graph's ops (for composites whose sensitive part is a whole front network, e.g. an SR net before the recognizer).
FLOAT_STEM_CANDIDATES = (0, 2, 5, 8, 12, 0.25, 0.5)
#: Per-image cosine to the float model over the calibration inputs that ``float_stem`` asks of a candidate:
#: a margin above the export gate's int8 limits (mean 0.98, 1st percentile 0.95 at each gate size).
STEM_CHECK = {"mean": 0.985, "p1": 0.955}


def _int8_with_least_error_ranges(converter, calibration: np.ndarray, io_type, info: Optional[dict]) -> bytes:
    """``converter.convert()`` of a full-integer converter, with the calibrator's min/max activation ranges
    replaced by least-squared-error ones (``lrfr_tf.export.activation_ranges``) before quantising, and the
    smallest float stem that keeps the calibration faces' embeddings (``float_stem``)."""
    ranged, summary = ranged_float_model(converter, calibration)
    data, stem = float_stem(ranged, calibration, io_type)
    if info is not None:
        info.update(summary)
        info["float_stem"] = stem
    return data


def _run(model: bytes, inputs: np.ndarray, num_threads: int = 2) -> np.ndarray:
    """Outputs of a .tflite on float ``inputs`` (quantised for an int8/uint8 input), dequantised, float32."""
    from ai_edge_litert.interpreter import Interpreter

    from lrfr_tf.litert import dequantize, quantize

    interp = Interpreter(model_content=bytes(model), num_threads=num_threads)
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    interp.resize_tensor_input(inp["index"], [len(inputs), *inputs.shape[1:]])
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], quantize(inputs.astype(np.float32), interp.get_input_details()[0]))
    interp.invoke()
    return np.asarray(dequantize(interp.get_tensor(out["index"]), interp.get_output_details()[0]), np.float32)


def float_stem(ranged: bytes, inputs: np.ndarray, io_type, candidates: Sequence[int] = FLOAT_STEM_CANDIDATES,
               check: Dict[str, float] = STEM_CHECK):
    """(int8 model bytes, summary): ``quantize_ranged`` with the first K ops kept in float, K the smallest of
    ``candidates`` (counts, or fractions < 1 of the ops) whose per-image cosine to the float model ``ranged`` on
    ``inputs`` (the calibration faces, never the gate's) meets ``check``; the last candidate when none does (the
    export gate then decides)."""
    reference = _run(ranged, inputs)
    ops = [out for _, name, out in op_outputs(ranged) if name not in ("RESHAPE", "L2_NORMALIZATION")]
    counts = sorted({int(round(c * len(ops))) if isinstance(c, float) and c < 1 else int(c) for c in candidates})
    tried = []
    for k in counts:
        data = quantize_ranged(ranged, io_type, ops[:k])
        y = _run(data, inputs)
        cos = np.sum(y * reference, 1) / (np.linalg.norm(y, axis=1) * np.linalg.norm(reference, axis=1) + 1e-12)
        row = {"float_ops": int(k), "mean_cosine": float(cos.mean()), "p1_cosine": float(np.percentile(cos, 1))}
        tried.append(row)
        if row["mean_cosine"] >= check["mean"] and row["p1_cosine"] >= check["p1"]:
            break
    return data, {"float_ops": ops[:k], "tried": tried, "check": dict(check), "inputs": int(len(inputs)),
                  "met": bool(row["mean_cosine"] >= check["mean"] and row["p1_cosine"] >= check["p1"])}


def op_outputs(model_bytes: bytes):
    """[(index, op name, output tensor name)] of the first subgraph, in graph order."""
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    model = fbu.convert_bytearray_to_object(bytearray(model_bytes))
    sg = model.subgraphs[0]
    return [(k, fbu.opcode_to_name(model, op.opcodeIndex), sg.tensors[op.outputs[0]].name.decode())
            for k, op in enumerate(sg.operators)]


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
        stem = (conversion or {}).get("float_stem") or {}
        kept = len(stem.get("float_ops", []))
        return {"weights": "int8 per-channel symmetric",
                "activations": "int8 per-tensor, least-squared-error ranges over the calibration faces",
                "compute": "int8, every op" if not kept else f"int8, except the first {kept} ops in float (float_stem)",
                "method": "post-training (TFLiteConverter), int8 I/O", "float_ops": kept,
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
