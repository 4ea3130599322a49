"""Shared pieces of the degradation ops: kernels, the op registry, presets and seed/size helpers."""

from __future__ import annotations

import re
from typing import Any, Dict, Optional, Tuple

import tensorflow as tf

from lrfr_tf.registry import Registry


KERNELS = ("bicubic", "bilinear", "area", "nearest")

#: Degradation ops by name: ``OPS.create(name, **args)`` -> ``Op``.
OPS = Registry("degradation op")

#: Named resolution samplers (sizes are height x width), usable as ``resolution(preset=NAME)``. Names say
#: what is drawn, never a recipe's name (tests/train/test_train_config.py checks).
SIZE_PRESETS: Dict[str, Dict[str, Any]] = {
    # 7 px and its octaves up to 112, uniform: BT-M's sizes (multi-resolution batch training).
    "octaves_7_112": {"sizes": [7, 14, 28, 56, 112]},
    # MAug's sizes: {7, 14, 20} with ratio 1:1:2.
    "maug_7_14_20": {"sizes": [7, 14, 20], "probs": [1, 1, 2]},
    # Multi-scale list of face sizes (height x width), uniform.
    "multi_scale": {
        "sizes": [(7, 6), (11, 8), (14, 12), (16, 12), (16, 14), (16, 16), (18, 16), (21, 15), (32, 32), (112, 96)]
    },
}

#: Named degradation specs: ``parse(NAME)`` == ``parse(PRESETS[NAME])`` (names distinct from recipe names).
PRESETS: Dict[str, str] = {
    "octaves_7_112": "resolution(preset=octaves_7_112)|resize()",
    "maug_7_14_20": "resolution(preset=maug_7_14_20)|resize()",
    "multi_scale": "resolution(preset=multi_scale)|resize()",
    # A surveillance camera: lens blur, sensor sampling, shot + read noise,
    # JPEG compression, then back up to the model size.
    "camera": "blur(0.5, 1.5)|resolution(low=8, high=32)|poisson_noise(100, 1000)"
    "|gaussian_noise(1, 5)|jpeg(30, 90)|resize()",
}


# --------------------------------------------------------------------------- helpers

def _check_kernel(arg: str, kernel: str) -> None:
    if kernel not in KERNELS:
        raise ValueError(f"{arg} must be one of {KERNELS}, got {kernel!r}")


def _as_seed(seed) -> tf.Tensor:
    """A [2] seed tensor (int32/int64) or a Python int -> int64 [2]."""
    if isinstance(seed, int):
        seed = [seed, 0]
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    if seed.shape.rank is not None and seed.shape.as_list() not in ([2], [None]):
        raise ValueError(f"seed must have shape [2], got {seed.shape}")
    return seed


def _split(seed: tf.Tensor, num) -> tf.Tensor:
    return tf.random.experimental.stateless_split(seed, num)


def _dim(t: tf.Tensor, axis: int):
    """Static size of ``axis`` when known (keeps static shapes), else a scalar tensor."""
    static = t.shape[axis]
    return static if static is not None else tf.shape(t)[axis]


def _image_hw(image: tf.Tensor) -> Tuple[Any, Any]:
    return _dim(image, -3), _dim(image, -2)


def _static(hw) -> Optional[Tuple[int, int]]:
    return tuple(hw) if all(isinstance(v, int) for v in hw) else None


def _uniform(seed, low: float, high: Optional[float]) -> tf.Tensor:
    """A float drawn uniformly from [low, high] (``low`` if high is None)."""
    if high is None or high == low:
        return tf.constant(float(low))
    return low + (high - low) * tf.random.stateless_uniform([], seed)


def _uniform_int(seed, low: int, high: Optional[int]) -> tf.Tensor:
    """An int32 drawn uniformly from {low, ..., high} (``low`` if high is None)."""
    if high is None or high == low:
        return tf.constant(int(low))
    return tf.random.stateless_uniform([], seed, int(low), int(high) + 1, dtype=tf.int32)


def _ordered_range(op: str, low_name: str, low, high_name: str, high, lo_bound, hi_bound):
    for name, v in ((low_name, low), (high_name, high)):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{op}: {name} must be a number, got {v!r}")
        if not lo_bound <= v <= hi_bound:
            raise ValueError(f"{op}: {name} must be in [{lo_bound}, {hi_bound}], got {v}")
    if high is not None and high < low:
        raise ValueError(f"{op}: {high_name} ({high}) must be >= {low_name} ({low})")


_KEYWORDS = {"true": True, "false": False, "none": None}


def _format_value(v) -> str:
    if v is None or isinstance(v, bool):
        return {None: "none", True: "true", False: "false"}[v]
    if isinstance(v, str):
        return v if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) and v.lower() not in _KEYWORDS else repr(v)
    if isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return f"{v[0]}x{v[1]}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_format_value(x) for x in v) + "]"
    return repr(v)


def _format_op(op) -> str:
    args = ", ".join(f"{k}={_format_value(v)}" for k, v in op.get_config().items())
    return f"{op.name}({args})"


