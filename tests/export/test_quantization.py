"""Quantised TFLite formats: the preparation (equalisation, int8 snapping with bias correction) keeps the
function, tflite_dynamic is weight-only int8, tflite_int8 meets its gate, and the gate catches a broken
int8 conversion."""

import os

import numpy as np
import pytest

from tests.export.conftest import SAMPLE_LFW, faces, small_model

SIZES = (112, 8)


def _inputs(n, seed, pre):
    """Normalised face-like inputs, degraded like the gate's (bicubic down to each of SIZES and back)."""
    from lrfr_tf.eval.degradation import ResolutionDegradation
    from lrfr_tf.export import tflite

    return tflite.calibration_inputs(faces(n, seed=seed), pre, ResolutionDegradation(), sizes=SIZES)


def imbalanced_model(seed=0):
    """A small MobileFaceNet whose expand-conv channels span 1000x in range, the depthwise convs compensating:
    the function of a trained model, the per-channel ranges that break per-tensor int8 activations."""
    model = small_model(seed=seed)
    model(np.zeros((1, 112, 112, 3), np.float32))
    rng = np.random.default_rng(seed)
    for stage in model.blocks:
        for block in stage:
            c = block.expand.filters
            s = np.exp(rng.uniform(np.log(1e-3), 0.0, c)).astype(np.float32)
            gamma, beta, mean, var = block.expand.bn.get_weights()
            block.expand.bn.set_weights([gamma * s, beta * s, mean, var])
            kernel = block.depthwise.conv.get_weights()[0]
            block.depthwise.conv.set_weights([kernel / s.reshape(1, 1, -1, 1)])
    return model


def _embed(model, x):
    import tensorflow as tf

    return tf.math.l2_normalize(model(x, training=False), -1).numpy()


def _cosines(a, b):
    from lrfr_tf.export.parity import cosine_stats

    return cosine_stats(a, b)


def _tflite_embed(data, x, tmp_path, name):
    """L2-normalised embeddings of normalised inputs ``x`` through a .tflite (the gate's embedder)."""
    from lrfr_tf.eval.embedders import TFLiteEmbedder

    path = tmp_path / f"{name}.tflite"
    path.write_bytes(data)
    out = TFLiteEmbedder(str(path), num_threads=1)._forward(x)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_preparation_keeps_the_function_and_restores_the_source():
    from lrfr_tf.export import equalization as eq

    model = imbalanced_model()
    x = _inputs(8, 1, model.preprocessing)
    before = [w.numpy().copy() for w in model.weights]
    reference = _embed(model, x)
    with eq.weights_restored(model):
        assert eq.equalize(model, x) == 1 + sum(len(s) for s in model.blocks) + 1  # stem, every block, head->GDC
        assert _cosines(reference, _embed(model, x))["min"] > 0.99999
        ranges = eq.unit_statistics(model, [model.blocks[0][0].expand], x)
        r = next(iter(ranges.values()))["max_out"]
        # every channel into the depthwise conv now spans the same range (but those below the 1e-3 floor)
        assert np.mean(r / r.max() > 0.99) > 0.8 and r.min() / r.max() > 0.2
        assert eq.snap_weights(model, x) == len(model.conv_units())
        for unit in model.conv_units():
            kernel = unit.conv.get_weights()[0]
            axes = (0, 1, 3) if unit.depthwise else (0, 1, 2)
            steps = kernel / (np.abs(kernel).max(axis=axes, keepdims=True) / 127)
            np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
        assert _cosines(reference, _embed(model, x))["min"] > 0.999
    for w, value in zip(model.weights, before):
        np.testing.assert_array_equal(w.numpy(), value)


def test_bias_correction_removes_the_mean_error_of_int8_weights():
    from lrfr_tf.export import equalization as eq

    model = imbalanced_model(seed=1)
    x = _inputs(8, 2, model.preprocessing)
    reference = model(x).numpy()
    with eq.weights_restored(model):
        for unit in model.conv_units():  # int8 weights without the correction
            w = unit.conv.get_weights()
            unit.conv.set_weights([eq.int8_grid(w[0], unit.depthwise)] + w[1:])
        plain = model(x).numpy()
    with eq.weights_restored(model):
        eq.snap_weights(model, x)
        corrected = model(x).numpy()
    bias_plain = np.abs((plain - reference).mean(0)).mean()
    bias_corrected = np.abs((corrected - reference).mean(0)).mean()
    assert bias_corrected < 0.7 * bias_plain, (bias_corrected, bias_plain)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """(model, held-out inputs, {variant: .tflite bytes}) for the imbalanced small model."""
    from lrfr_tf.export import tflite
    from lrfr_tf.export.serving_graph import build_archive

    tmp = tmp_path_factory.mktemp("quant")
    model = imbalanced_model()
    pre = model.preprocessing
    calibration = _inputs(48, 3, pre)
    prepared = str(tmp / "prepared")
    info = tflite.write_quantization_source(model, pre, calibration, prepared)
    plain = str(tmp / "plain")
    build_archive(model, pre).write_out(plain, verbose=False)
    blank = np.repeat(pre.normalize_numpy(np.full((1, 112, 112, 3), 128.0, np.float32)), 8, axis=0)
    out = {"int8": tflite.convert(prepared, "tflite_int8", calibration),
           "int8_minmax": tflite.convert(prepared, "tflite_int8", calibration, least_error_ranges=False),
           "int8_unprepared": tflite.convert(plain, "tflite_int8", calibration),
           "int8_blank_calibration": tflite.convert(prepared, "tflite_int8", blank),
           "dynamic": tflite.convert(prepared, "tflite_dynamic")}
    return model, _inputs(24, 4, pre), out, info


def test_int8_of_the_prepared_model_is_far_closer_than_the_unprepared(converted, tmp_path):
    from lrfr_tf.export.parity import GATES

    model, x, out, info = converted
    assert info["equalized_pairs"] > 0 and info["bias_corrected_convs"] == len(model.conv_units())
    reference = _embed(model, x)
    good = _cosines(reference, _tflite_embed(out["int8"], x, tmp_path, "int8"))
    bad = _cosines(reference, _tflite_embed(out["int8_unprepared"], x, tmp_path, "plain"))
    # Equalisation undoes the 1000x channel spread: the mean cosine error shrinks by 3x or more.
    assert (1 - good["mean"]) * 3 <= 1 - bad["mean"], (good, bad)
    assert good["mean"] >= GATES["tflite_int8"].mean_cosine - 0.01, good


def test_int8_runs_every_op_in_int8(converted):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=converted[2]["int8"])
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    for op in interp._get_ops_details():
        dtypes = {np.dtype(tensors[i]["dtype"]).name for i in list(op["inputs"]) + list(op["outputs"]) if i >= 0}
        assert "float32" not in dtypes, op["op_name"]


def test_dynamic_is_weight_only_int8_and_meets_the_gate(converted, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from lrfr_tf.export.parity import GATES

    model, x, out, _ = converted
    interp = Interpreter(model_content=out["dynamic"])
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    convs = [op for op in ops if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    dequantized = [op for op in ops if op["op_name"] == "DEQUANTIZE"]
    assert len(dequantized) == len(convs)  # every conv weight is int8, dequantised
    assert all(np.dtype(tensors[op["inputs"][0]]["dtype"]) == np.int8 for op in dequantized)
    for op in convs:  # float compute: no hybrid kernel
        assert all(np.dtype(tensors[i]["dtype"]) == np.float32 for i in op["inputs"] if i >= 0), op["op_name"]
    cos = _cosines(_embed(model, x), _tflite_embed(out["dynamic"], x, tmp_path, "dynamic"))
    assert cos["min"] >= GATES["tflite_dynamic"].min_cosine, cos


def test_gate_fails_an_int8_model_calibrated_on_blank_images(converted, tmp_path):
    from lrfr_tf.export import parity

    model, x, out, _ = converted
    cos = {8: _cosines(_embed(model, x), _tflite_embed(out["int8_blank_calibration"], x, tmp_path, "blank"))}
    acc = {"hr": 0.9, "cr_8": 0.7}
    failures = parity.check("tflite_int8", cos, acc, acc, "cr_8")
    assert failures and any("mean cosine" in f for f in failures), (cos, failures)


def test_int8_grid_is_the_least_error_per_channel_grid():
    """Per output channel: at most 255 levels of one step (c / 127 with c the largest snapped |w|), and a
    squared error no larger than the plain max |w| / 127 grid's: the least over ``CLIP_RATIOS``."""
    from lrfr_tf.export.equalization import int8_grid

    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 16, 8))
    kernel[0, 0, 0, :4] *= 12.0  # outliers in four channels
    for depthwise, k, axes in ((False, kernel, (0, 1, 2)), (True, kernel[..., :1].transpose(0, 1, 3, 2), (0, 1, 3))):
        snapped = int8_grid(k, depthwise)
        step = np.abs(snapped).max(axis=axes, keepdims=True) / 127.0
        levels = snapped / step
        np.testing.assert_allclose(levels, np.round(levels), atol=1e-6)
        plain_step = np.abs(k).max(axis=axes, keepdims=True) / 127.0
        plain = np.round(k / plain_step) * plain_step
        err, plain_err = (np.square(x - k).sum(axis=axes) for x in (snapped, plain))
        assert np.all(err <= plain_err + 1e-12)
    # channel by channel, the least error over the clipping ratios, computed by a plain loop
    from lrfr_tf.export.equalization import CLIP_RATIOS

    snapped = int8_grid(kernel, False)
    for c in range(kernel.shape[-1]):
        w = kernel[..., c]
        errors = [np.square(np.clip(np.round(w / (r * np.abs(w).max() / 127)), -127, 127) * (r * np.abs(w).max() / 127)
                            - w).sum() for r in CLIP_RATIOS]
        assert np.square(snapped[..., c] - w).sum() == pytest.approx(min(errors), rel=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["tflite_dynamic"])  # tflite_int8 (PReLU, per-tensor activations) does not pass yet:
# 8 px mean cosine 0.93 vs the gate's 0.98; its routes are compared in results/export/qat_vs_ptq.json
def test_pretrained_mobilefacenet_quantized_exports_pass_the_gate(tmp_path, mobilefacenet_tflite, fmt):
    from lrfr_tf.export import exporter
    from lrfr_tf.export.parity import GateData
    from lrfr_tf.export.sources import load_source

    source = load_source(str(mobilefacenet_tflite))
    calibration = exporter.load_calibration_faces(exporter.default_calibration_dir(), 240,
                                                  source.preprocessing.aligned_size)
    report = exporter.export_model(source, str(tmp_path), formats=[fmt], calibration_faces=calibration,
                                   gate_data=GateData(str(SAMPLE_LFW)), log=lambda *a: None)
    gate = report["gate"]
    assert gate["passed"], gate
    if fmt == "tflite_dynamic":
        assert report["formats"][fmt]["quantization"]["compute"] == "float32"
    assert os.path.isfile(os.path.join(report["path"], "tflite", f"MobileFaceNet_{fmt.split('_')[1]}.tflite"))


def test_least_error_range_is_the_least_error_scaled_range():
    """Heavy-tailed values: the chosen range is the scaled calibrated range of least int8 error, found here by
    a plain loop over the same ratios, narrower than min/max and with less error."""
    from lrfr_tf.export.activation_ranges import RANGE_RATIOS, int8_affine_error, least_error_range

    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(0.0, 1.0, 200000), [8.0, -8.0]])  # two rare values twice beyond the rest
    lo, hi = float(v.min()), float(v.max())
    a, b = least_error_range(v, lo, hi)
    assert a <= 0 <= b and b < 0.7 * hi and a > 0.7 * lo
    errors = []
    for c in RANGE_RATIOS:
        x0, x1 = min(lo * c, 0.0), max(hi * c, 0.0)
        scale = (x1 - x0) / 255.0
        zero = round(-128 - x0 / scale)
        q = np.clip(np.round(v / scale) + zero, -128, 127)
        errors.append(((c, x0, x1), np.mean(((q - zero) * scale - v) ** 2)))
    (c, x0, x1), best = min(errors, key=lambda e: e[1])
    assert (a, b) == pytest.approx((x0, x1)) and int8_affine_error(v, a, b) == pytest.approx(best)
    assert best < 0.75 * int8_affine_error(v, lo, hi)
    grid = np.arange(-128, 128) * 0.01  # the grid of [-1.28, 1.27] (step 0.01, zero point 0): no error
    assert int8_affine_error(grid, -1.28, 1.27) < 1e-20 and int8_affine_error(grid + 0.004, -1.28, 1.27) > 1e-5


def test_int8_least_error_ranges_shrink_activation_scales_and_keep_the_input(converted, tmp_path):
    """The quantised model's activation scales come from the least-error ranges (none wider than the
    calibrator's min/max, most narrower); the input and the L2 normalisation keep theirs; still every op int8."""
    from ai_edge_litert.interpreter import Interpreter

    model, x, out, _ = converted

    def scales(data):
        interp = Interpreter(model_content=data)
        return {t["name"]: t["quantization"][0] for t in interp.get_tensor_details()
                if t["dtype"] == np.int8 and t["quantization"][0] > 0 and len(t["quantization_parameters"]["scales"]) == 1}

    new, old = scales(out["int8"]), scales(out["int8_minmax"])
    common = sorted(set(new) & set(old))
    assert len(common) > 20
    ratios = np.array([new[k] / old[k] for k in common])
    assert ratios.max() <= 1.0 + 1e-6 and np.mean(ratios < 0.99) > 0.5, ratios
    inp = Interpreter(model_content=out["int8"]).get_input_details()[0]["quantization"]
    assert inp == Interpreter(model_content=out["int8_minmax"]).get_input_details()[0]["quantization"]
    outq = Interpreter(model_content=out["int8"]).get_output_details()[0]["quantization"]
    assert outq == Interpreter(model_content=out["int8_minmax"]).get_output_details()[0]["quantization"]
