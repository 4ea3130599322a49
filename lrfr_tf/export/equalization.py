"""Function-preserving weight preparation of a Keras embedder before quantised TFLite conversion.

Why (measured on the pretrained MobileFaceNet, PReLU, BN folded): the quantised formats keep one
scale per *tensor* for activations, and the channels of a MobileFaceNet activation span up to ~100x
in range. A depthwise convolution (and the GDC) never mixes channels, so its small channels keep one
or two bits of a per-tensor scale: quantising only the depthwise inputs per tensor dropped the 8 px
cosine to 0.95 mean / 0.89 min, quantising only the other convs' inputs kept 0.9991 / 0.998.

- ``equalize`` (cross-layer equalisation, Nagel et al. 2019, "Data-Free Quantization"): for a conv A
  whose output (through a per-channel PReLU/ReLU, both positively homogeneous) feeds only conv B,
  divide output channel c of A (kernel and bias, or BN gamma and beta) by s_c and multiply input
  channel c of B by s_c. The float function is unchanged (fp32 TFLite of the equalised model: cosine
  1.00000 to the source). Into a depthwise B the activation ranges are fully equalised (per-channel
  weights absorb s); into a regular conv B they are left as they are (``partial_exponent`` 0), since
  B's per-output-channel weight scales would absorb the spread instead.
- ``snap_weights`` (bias correction, same paper): round every conv kernel to the per-output-channel
  symmetric int8 grid the converter uses (so the converter's quantisation is exact) and subtract the
  expected output error ``sum(dW * E[x])`` from the bias, with ``E[x]`` the mean input per channel
  over the calibration faces. Weight-only int8 of the MobileFaceNet: 8 px mean cosine 0.9986 ->
  0.9996, min 0.9974 -> 0.9991 (64 LFW-sample faces).

Both act on ``ConvBNAct`` units (``lrfr_tf.models.layers``); ``equalize`` needs the graph structure and
knows the MobileFaceNet family (``chains``), any other model is left as it is.
"""

from __future__ import annotations

import contextlib
from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np


def _units(model) -> List[object]:
    """Every ConvBNAct inside ``model`` (model itself included), in layer order."""
    from lrfr_tf.models.layers import ConvBNAct

    layers = model._flatten_layers(include_self=True, recursive=True)
    return [layer for layer in layers if isinstance(layer, ConvBNAct)]


def chains(model) -> List[Tuple[object, object]]:
    """(A, B) ConvBNAct pairs of every MobileFaceNet in ``model`` where A's output feeds B and nothing else."""
    from lrfr_tf.models.mobilefacenet import MobileFaceNet

    pairs = []
    for m in model._flatten_layers(include_self=True, recursive=True):
        if not isinstance(m, MobileFaceNet):
            continue
        blocks = [b for stage in m.blocks for b in stage]
        pairs.append((m.stem_conv, m.stem_depthwise))
        stem_out = m.stem_depthwise
        if m.stem_project is not None:
            pairs.append((m.stem_depthwise, m.stem_project))
            stem_out = m.stem_project
        if blocks and not blocks[0].residual:  # the stem output feeds the first expand conv only
            pairs.append((stem_out, blocks[0].expand))
        for b in blocks:
            pairs += [(b.expand, b.depthwise), (b.depthwise, b.project)]
        if m.gdc is not None:  # head conv -> GDC -> [GDC pointwise] -> embedding conv, all single-consumer
            tail = [m.head_conv, m.gdc] + [u for u in (m.gdc_project, m.embedding_conv) if u is not None]
            pairs += list(zip(tail[:-1], tail[1:]))
    return pairs


@contextlib.contextmanager
def _recording(units: Sequence[object], stats: Dict[int, Dict[str, list]]) -> Iterator[None]:
    """While active, each call of a unit in ``units`` appends its per-channel mean input and max |output|."""
    import tensorflow as tf

    from lrfr_tf.models.layers import ConvBNAct

    wanted = {id(u) for u in units}
    original = ConvBNAct.call

    def call(self, x, training=None):
        y = original(self, x, training=training)
        if id(self) in wanted:
            s = stats.setdefault(id(self), {"mean_in": [], "max_out": [], "count": []})
            s["mean_in"].append(tf.reduce_mean(x, axis=[0, 1, 2]).numpy())
            s["max_out"].append(tf.reduce_max(tf.abs(y), axis=[0, 1, 2]).numpy())
            s["count"].append(int(x.shape[0]))
        return y

    ConvBNAct.call = call
    try:
        yield
    finally:
        ConvBNAct.call = original


def unit_statistics(model, units: Sequence[object], inputs: np.ndarray,
                    batch_size: int = 32) -> Dict[int, Dict[str, np.ndarray]]:
    """{id(unit): {"mean_in": [C_in], "max_out": [C_out]}} over ``inputs`` (normalised model inputs)."""
    stats: Dict[int, Dict[str, list]] = {}
    with _recording(units, stats):
        for i in range(0, len(inputs), batch_size):
            model(inputs[i:i + batch_size], training=False)
    out = {}
    for key, s in stats.items():
        w = np.asarray(s["count"], np.float64)
        out[key] = {"mean_in": np.average(np.stack(s["mean_in"]), axis=0, weights=w),
                    "max_out": np.max(np.stack(s["max_out"]), axis=0)}
    return out


def _fold_bn(unit) -> None:
    """Fold a unit's BatchNorm into its kernel and bias (BN left as identity): same inference output."""
    if unit.bn is None:
        return
    gamma, beta, mean, var = unit.bn.get_weights()
    k = unit.conv.get_weights()[0]
    g = gamma / np.sqrt(var + unit.bn.epsilon)
    kernel = k * (g.reshape(1, 1, -1, 1) if unit.depthwise else g)
    alpha = unit.act.get_weights()[0].reshape(-1) if unit.activation == "prelu" else None
    unit.set_folded_weights(kernel.astype(np.float32), (beta - mean * g).astype(np.float32), alpha)


def _kernel_bias(unit) -> Tuple[np.ndarray, np.ndarray]:
    """(kernel, bias) of a BN-free or BN-folded unit."""
    if unit.bn is None:
        kernel, bias = unit.conv.get_weights()
        return kernel, bias
    return unit.conv.get_weights()[0], unit.bn.get_weights()[1]


def _set_kernel_bias(unit, kernel: np.ndarray, bias: np.ndarray) -> None:
    if unit.bn is None:
        unit.conv.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    else:
        gamma, _, mean, var = unit.bn.get_weights()
        unit.conv.set_weights([kernel.astype(np.float32)])
        unit.bn.set_weights([gamma, bias.astype(np.float32), mean, var])


def _channel_shape(unit, ndim: int = 4) -> Tuple[int, ...]:
    """Kernel broadcast shape of one value per output channel (depthwise: axis 2)."""
    return (1, 1, -1, 1) if unit.depthwise else (1,) * (ndim - 1) + (-1,)


def equalize(model, calibration: np.ndarray, partial_exponent: float = 0.0, floor: float = 1e-3) -> int:
    """Cross-layer equalisation in place (see the module docstring); returns the number of pairs scaled.

    For each pair (A, B) with r_c = max |A's output channel c| over ``calibration``:
    s_c = max(r_c / max(r), floor) ** p, p = 1 into a depthwise B, ``partial_exponent`` otherwise.
    """
    pairs = chains(model)
    if not pairs:
        return 0
    for unit in {id(u): u for pair in pairs for u in pair}.values():
        _fold_bn(unit)
    stats = unit_statistics(model, [a for a, _ in pairs], calibration)
    scaled = 0
    for a, b in pairs:
        r = stats[id(a)]["max_out"]
        p = 1.0 if b.depthwise else float(partial_exponent)
        if p == 0.0 or r.max() <= 0:
            continue
        s = (np.maximum(r / r.max(), floor) ** p).astype(np.float64)
        ka, ba = _kernel_bias(a)
        _set_kernel_bias(a, ka / s.reshape(_channel_shape(a)), ba / s)
        kb, bb = _kernel_bias(b)
        _set_kernel_bias(b, kb * s.reshape(1, 1, -1, 1), bb)
        scaled += 1
    return scaled


#: Clipping ratios (of max |w| per output channel) searched by ``int8_grid``.
CLIP_RATIOS = np.linspace(0.5, 1.0, 51)


def int8_grid(kernel: np.ndarray, depthwise: bool) -> np.ndarray:
    """``kernel`` rounded to symmetric per-output-channel int8, as float: per channel the scale c / 127 whose
    clip c (a ratio in ``CLIP_RATIOS`` of max |w|) gives the least squared rounding + clipping error.

    The converters set each channel's scale from max |w|; after snapping that is c, so the file holds exactly
    this grid. Against plain max |w| / 127 it raised the weight-only int8 MobileFaceNet's 8 px min cosine over
    500 LFW faces from 0.99886 to 0.99906 (gate 0.999; 14 px 0.99903 -> 0.99907)."""
    axes = (0, 1, 3) if depthwise else tuple(range(kernel.ndim - 1))
    amax = np.abs(kernel).max(axis=axes, keepdims=True)
    amax = np.where(amax > 0, amax, 1.0)
    best, best_err = None, None
    for ratio in CLIP_RATIOS:
        scale = amax * ratio / 127.0
        snapped = np.clip(np.round(kernel / scale), -127, 127) * scale
        err = np.square(snapped - kernel).sum(axis=axes, keepdims=True)
        if best is None:
            best, best_err = snapped, err
        else:
            better = err < best_err
            best, best_err = np.where(better, snapped, best), np.where(better, err, best_err)
    return best


def snap_weights(model, calibration: np.ndarray) -> int:
    """Round every ConvBNAct kernel to its int8 grid and correct its bias for the expected error; in place.

    E[x] is measured once on the float model (correcting unit after unit on the partly snapped model
    was no better: 8 px min cosine 0.99891 vs 0.99897, and 5x slower). Returns the number of units changed."""
    units = _units(model)
    if not units:
        return 0
    for unit in units:
        _fold_bn(unit)
    stats = unit_statistics(model, units, calibration)
    for unit in units:
        if id(unit) not in stats:  # not on the inference path
            continue
        kernel, bias = _kernel_bias(unit)
        snapped = int8_grid(kernel.astype(np.float64), unit.depthwise)
        dk = (snapped - kernel).sum(axis=(0, 1))  # [C_in, C_out] or depthwise [C, 1]
        mean_in = stats[id(unit)]["mean_in"]
        shift = dk[:, 0] * mean_in if unit.depthwise else mean_in @ dk
        _set_kernel_bias(unit, snapped, bias - shift)
    return len(stats)


@contextlib.contextmanager
def weights_restored(model) -> Iterator[None]:
    """Restores every weight of ``model`` on exit (the export gates against the untouched source)."""
    saved = [(w, w.numpy()) for w in model.weights]
    try:
        yield
    finally:
        for w, value in saved:
            w.assign(value)
