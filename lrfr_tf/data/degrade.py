"""Degradation ops that simulate low-resolution cameras, all in TensorFlow.

Images are float32 RGB in [0, 255], shape [H, W, C] (one sample) or [B, H, W, C].
Every random choice is drawn with stateless TF random ops from a per-sample seed
(shape [2], int64), so an op gives identical results eagerly, inside
``tf.function`` and inside ``tf.data``, and is deterministic given the seed.

Ops are registered by name in ``OPS`` and composed with ``parse`` (a short spec
string) or ``build`` (a config list)::

    deg = parse("blur(0.5, 1.5)|resolution(sizes=[7,14,20], probs=[1,1,2])|jpeg(30,90)|resize()")
    lr = deg(image, seed)                    # one sample, or a batch with per-sample seeds
    ds = make_dataset(src, 64, seed=0, map_fn=deg.map_fn())   # adds "lr", keeps "image" as HR

Spec grammar (no ``eval``)::

    spec  := op ("|" op)*            ops run left to right
    op    := NAME ["(" [arg ("," arg)*] ")"]
    arg   := value | NAME "=" value  positional arguments first
    value := INT | FLOAT | HxW | NAME | 'text' | "text" | "[" [value ("," value)*] "]"

``HxW`` (e.g. ``11x8``) is a size, height x width; bare names are strings except
``true``/``false``/``none``. A preset name (``PRESETS``) is also a spec.

Linear ops (``crop``, ``blur``, ``resolution``, ``resize``) are separable
resamplings. Consecutive ones are fused into one matrix product per axis (the
resize matrices are TF's own kernels, read off ``tf.image.resize`` once per size
and looked up per sample), so e.g. a lens blur costs one small matrix product
instead of a convolution; a lone resize without antialiasing runs as
``tf.image.resize`` (faster than the product; TF's antialiased resize is not). The result
is clipped to [0, 255] once per fused run, so bicubic overshoot at the low size
is kept, as in ``reduce_resolution``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import math
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from lrfr_tf.registry import Registry

KERNELS = ("bicubic", "bilinear", "area", "nearest")

SizeLike = Union[int, Sequence[int], tf.Tensor]

#: Degradation ops by name: ``OPS.create(name, **args)`` -> ``Op``.
OPS = Registry("degradation op")

#: Named resolution samplers (sizes are height x width), usable as ``resolution(preset=NAME)``.
SIZE_PRESETS: Dict[str, Dict[str, Any]] = {
    # BT-M (multi-resolution base training): {7, 14, 28, 56, 112} uniform.
    "bt_m": {"sizes": [7, 14, 28, 56, 112]},
    # MAug: {7, 14, 20} with ratio 1:1:2.
    "maug": {"sizes": [7, 14, 20], "probs": [1, 1, 2]},
    # Multi-scale list of face sizes (height x width), uniform.
    "multi_scale": {
        "sizes": [(7, 6), (11, 8), (14, 12), (16, 12), (16, 14), (16, 16), (18, 16), (21, 15), (32, 32), (112, 96)]
    },
}

#: Named degradation specs: ``parse(NAME)`` == ``parse(PRESETS[NAME])``.
PRESETS: Dict[str, str] = {
    "bt_m": "resolution(preset=bt_m)|resize()",
    "maug": "resolution(preset=maug)|resize()",
    "multi_scale": "resolution(preset=multi_scale)|resize()",
    # A surveillance camera: lens blur, sensor sampling, shot + read noise,
    # JPEG compression, then back up to the model size.
    "camera": "blur(0.5, 1.5)|resolution(low=8, high=32)|poisson_noise(100, 1000)"
    "|gaussian_noise(1, 5)|jpeg(30, 90)|resize()",
}


# --------------------------------------------------------------------------- helpers

def _hw(size: SizeLike) -> tf.Tensor:
    """int, (h, w) or a tensor of shape [] / [1] / [2] -> int32 tensor [h, w]."""
    s = tf.cast(tf.convert_to_tensor(size), tf.int32)
    if s.shape.rank == 0:
        return tf.stack([s, s])
    s = tf.reshape(s, [-1])
    if s.shape[0] is not None:
        return tf.repeat(s, 2) if s.shape[0] == 1 else tf.reshape(s, [2])
    return tf.cond(tf.equal(tf.size(s), 1), lambda: tf.repeat(s[:1], 2), lambda: tf.reshape(s, [2]))


def reduce_resolution(
    images: tf.Tensor,
    size: SizeLike,
    out_size: SizeLike | None = None,
    kernel: str = "bicubic",
    antialias: bool = True,
    up_kernel: str | None = None,
) -> tf.Tensor:
    """Down-sample to ``size`` and back up to ``out_size`` (Knoche et al. 2021, Sec. 3).

    The paper's degradation: bicubic down-sampling with antialiasing to r x r,
    then bicubic up-sampling back to the model size. ``size`` is r or (h, w)
    (non-square sizes such as 11x8 for the multi-scale list); ``out_size``
    defaults to the input size. Output is clipped to [0, 255] (bicubic overshoots).
    The op form is ``resolution(size=r)|resize()``.
    """
    _check_kernel("kernel", kernel)
    up_kernel = up_kernel or kernel
    _check_kernel("up_kernel", up_kernel)
    images = tf.convert_to_tensor(images, tf.float32)
    in_hw = tf.shape(images)[-3:-1]
    out_hw = in_hw if out_size is None else _hw(out_size)
    small = tf.image.resize(images, _hw(size), method=kernel, antialias=antialias)
    up = tf.image.resize(small, out_hw, method=up_kernel)
    return tf.clip_by_value(up, 0.0, 255.0)


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


# --------------------------------------------------------------------------- resolution samplers

def _size_pair(value, arg: str) -> Tuple[int, int]:
    """r or (h, w) -> (h, w) of positive ints."""
    if isinstance(value, (int,)) and not isinstance(value, bool):
        pair = (value, value)
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        pair = tuple(value)
    else:
        raise ValueError(f"{arg} must be an int r or a pair (h, w) such as 11x8, got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ValueError(f"{arg} must hold positive ints, got {value!r}")
    return pair


class _Sampler:
    """Draws a size per sample from a finite static ``support`` of (h, w) pairs.

    ``sample_index(seed)`` gives the entry (an int32 scalar tensor, or None when
    the support has one entry); ``__call__(seed)`` gives the size as int32 [2].
    Linear ops use the index to look resampling matrices up in precomputed tables.
    """

    support: Tuple[Tuple[int, int], ...] = ()

    @property
    def fixed_hw(self) -> Optional[Tuple[int, int]]:
        return self.support[0] if len(set(self.support)) == 1 else None

    def sample_index(self, seed) -> Optional[tf.Tensor]:
        raise NotImplementedError

    def __call__(self, seed) -> tf.Tensor:
        index = self.sample_index(seed)
        table = tf.constant(self.support, tf.int32)
        return table[0] if index is None else tf.gather(table, index)


class FixedSize(_Sampler):
    """Always the same size (h, w)."""

    def __init__(self, size):
        self.support = (_size_pair(size, "size"),)

    def sample_index(self, seed):
        return None


class DiscreteSizes(_Sampler):
    """One of ``sizes`` (r or (h, w) each), drawn with probabilities proportional to ``probs``."""

    def __init__(self, sizes, probs=None):
        if not isinstance(sizes, (list, tuple)) or not sizes:
            raise ValueError(f"sizes must be a non-empty list, got {sizes!r}")
        self.sizes = [_size_pair(s, "each of sizes") for s in sizes]
        probs = [1.0] * len(self.sizes) if probs is None else probs
        if not isinstance(probs, (list, tuple)) or len(probs) != len(self.sizes):
            raise ValueError(f"probs must be a list of {len(self.sizes)} numbers (one per size), got {probs!r}")
        if any(isinstance(p, bool) or not isinstance(p, (int, float)) or p < 0 for p in probs) or sum(probs) <= 0:
            raise ValueError(f"probs must be non-negative numbers with a positive sum, got {probs!r}")
        total = float(sum(probs))
        self.probs = [p / total for p in probs]
        self.support = tuple(self.sizes)

    def sample_index(self, seed):
        if len(self.support) == 1:
            return None
        logits = tf.math.log(tf.constant([self.probs], tf.float32))
        return tf.random.stateless_categorical(logits, 1, seed, dtype=tf.int32)[0, 0]


class SizeRange(_Sampler):
    """A side length from {low, ..., high}: uniform, or log-uniform (``log=True``).

    Log-uniform draws u ~ U[log low, log(high + 1)) and takes floor(exp(u)), so
    P(r) is proportional to log((r + 1) / r): small sizes are drawn more often.
    Height is the side length; width is round(height * aspect), at least 1.
    """

    def __init__(self, low: int, high: int, log: bool = False, aspect: float = 1.0):
        for name, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if high < low:
            raise ValueError(f"high ({high}) must be >= low ({low})")
        if isinstance(aspect, bool) or not isinstance(aspect, (int, float)) or aspect <= 0:
            raise ValueError(f"aspect (width / height) must be a positive number, got {aspect!r}")
        self.low, self.high, self.log, self.aspect = low, high, bool(log), float(aspect)
        self.support = tuple((h, max(1, round(h * self.aspect))) for h in range(low, high + 1))

    def sample_index(self, seed):
        if self.low == self.high:
            return None
        if self.log:
            u = tf.random.stateless_uniform([], seed, math.log(self.low), math.log(self.high + 1))
            return tf.clip_by_value(tf.cast(tf.floor(tf.exp(u)), tf.int32) - self.low, 0, self.high - self.low)
        return tf.random.stateless_uniform([], seed, 0, self.high - self.low + 1, dtype=tf.int32)


def make_sampler(size=None, sizes=None, probs=None, low=None, high=None, log=False, aspect=1.0, preset=None):
    """A resolution sampler from exactly one of: size | sizes (+probs) | low, high (+log, aspect) | preset."""
    given = [name for name, v in (("size", size), ("sizes", sizes), ("low/high", low if low is not None else high),
                                  ("preset", preset)) if v is not None]
    if len(given) != 1:
        raise ValueError(
            "give exactly one of size=, sizes= (with probs=), low= and high= (with log=, aspect=) or preset=; "
            f"got {', '.join(given) or 'none'}")
    if probs is not None and sizes is None:
        raise ValueError("probs= needs sizes=")
    if (log or aspect != 1.0) and low is None and high is None:
        raise ValueError("log= and aspect= apply to a low=/high= range only")
    if size is not None:
        return FixedSize(size)
    if sizes is not None:
        return DiscreteSizes(sizes, probs)
    if preset is not None:
        if preset not in SIZE_PRESETS:
            raise ValueError(f"unknown size preset {preset!r}; known: {', '.join(sorted(SIZE_PRESETS))}")
        return make_sampler(**SIZE_PRESETS[preset])
    if low is None or high is None:
        raise ValueError("a range needs both low= and high=")
    return SizeRange(low, high, log=log, aspect=aspect)


# --------------------------------------------------------------------------- separable resampling

@dataclasses.dataclass
class Size:
    """The size of one sample's image between linear stages.

    ``hw`` holds ints where static, else int32 scalars. When the size was drawn
    from a finite static list, ``support`` is that list of (h, w) and ``index``
    (int32 scalar, None for a single entry) the entry this sample has; resampling
    matrices are then looked up in tables computed once (``resize_table``).
    """

    hw: Tuple[Any, Any]
    support: Optional[Tuple[Tuple[int, int], ...]] = None
    index: Optional[tf.Tensor] = None

    @classmethod
    def of(cls, image: tf.Tensor) -> "Size":
        hw = _image_hw(image)
        return cls(hw, None if _static(hw) is None else (_static(hw),))

    @property
    def square(self) -> bool:
        """Every possible size is square (then one matrix serves both axes)."""
        return self.support is not None and all(h == w for h, w in self.support)


@dataclasses.dataclass
class Stage:
    """One separable linear map giving size ``out``: out = rows @ image @ cols^T (per channel).

    ``make()`` returns (rows [h_out, h_in], cols [w_out, w_in]), built only when
    the stage is fused with others. A stage that is a plain ``tf.image.resize``
    to ``out.hw`` names its (kernel, antialias) in ``resize`` and runs as that op
    when alone and not antialiased (TF's banded kernels beat a dense product,
    except the antialiased one, ScaleAndTranslate, which is slower than the
    product: 160 vs 96 us for 112 -> 20 px on one core). ``expands`` marks a
    stage that may enlarge the image; fusion starts a new product there so that
    down-sampling runs on the large image once and up-sampling on the small one.
    """

    out: Size
    make: Callable[[], Tuple[tf.Tensor, tf.Tensor]]
    expands: bool = False
    resize: Optional[Tuple[str, bool]] = None

    def matrices(self) -> Tuple[tf.Tensor, tf.Tensor]:
        if not hasattr(self, "_matrices"):
            self._matrices = self.make()
        return self._matrices


def resize_matrix(n_in, n_out, kernel: str = "bicubic", antialias: bool = False) -> tf.Tensor:
    """[n_out, n_in] matrix of ``tf.image.resize`` along one axis (read off by resizing an identity).

    TF resizes each axis independently (separable kernels), so resizing an image
    equals ``rows @ image @ cols^T`` with these matrices; the weights are TF's
    own (Keys cubic a=-0.5 with half-pixel centres, antialiased by stretching the
    kernel by 1/scale when shrinking).
    """
    eye = tf.eye(n_in)[:, None, :]  # an [n_in, 1] image with n_in channels
    size = tf.stack([tf.convert_to_tensor(n_out, tf.int32), 1]) if isinstance(n_out, tf.Tensor) else [n_out, 1]
    return tf.image.resize(eye, size, method=kernel, antialias=antialias)[:, 0, :]


@functools.lru_cache(maxsize=256)
def resize_table(in_sizes: Tuple[int, ...], out_sizes: Tuple[int, ...], kernel: str, antialias: bool) -> np.ndarray:
    """float32 [len(in), len(out), max(out), max(in)]: ``resize_matrix`` for every pair, zero-padded.

    Computed once, eagerly (``tf.init_scope`` lifts it out of any graph being
    traced), then embedded as a constant: per sample only a gather remains.
    """
    table = np.zeros((len(in_sizes), len(out_sizes), max(out_sizes), max(in_sizes)), np.float32)
    with tf.init_scope():
        for i, n_in in enumerate(in_sizes):
            for o, n_out in enumerate(out_sizes):
                table[i, o, :n_out, :n_in] = resize_matrix(n_in, n_out, kernel, antialias).numpy()
    return table


def _axis_resize(size: Size, axis: int, out_sizes: Sequence[Any], out_index, kernel: str, antialias: bool):
    """Resize matrix [n_out, n_in] along ``axis`` (0: rows, 1: cols) for one sample.

    ``out_sizes`` lists the possible output lengths on this axis and ``out_index``
    picks one (None: the only one). Static sizes use ``resize_table``; a size
    unknown at trace time computes the matrix in the graph.
    """
    n_out = out_sizes[0] if out_index is None else tf.gather(tf.constant(out_sizes, tf.int32), out_index)
    if size.support is None or not all(isinstance(n, int) for n in out_sizes):
        return resize_matrix(size.hw[axis], n_out, kernel, antialias)
    in_sizes = tuple(hw[axis] for hw in size.support)
    table = resize_table(in_sizes, tuple(out_sizes), kernel, antialias)
    if size.index is None and out_index is None:
        return tf.constant(table[0, 0, :n_out, : in_sizes[0]])
    n_in = in_sizes[0] if size.index is None else tf.gather(tf.constant(in_sizes, tf.int32), size.index)
    flat = tf.constant(table.reshape((-1,) + table.shape[2:]))  # [(in, out) pairs, max out, max in]
    if size.index is None:
        pair = out_index
    elif out_index is None:
        pair = size.index * len(out_sizes)
    else:
        pair = size.index * len(out_sizes) + out_index
    sizes = tf.stack([-1 if out_index is None else n_out, -1 if size.index is None else n_in])
    matrix = tf.slice(tf.gather(flat, pair), [0, 0], sizes)
    matrix.set_shape([n_out if out_index is None else None, n_in if size.index is None else None])
    return matrix


def _gaussian_rows(n, sigma) -> tf.Tensor:
    """[n, n] Gaussian blur along one axis: row i holds exp(-(j-i)^2 / 2 sigma^2), normalised.

    Rows are renormalised over the pixels inside the image, so borders are not
    darkened; sigma -> 0 gives the identity.
    """
    scale = -0.5 / tf.square(tf.maximum(tf.cast(sigma, tf.float32), 1e-3))
    if isinstance(n, int):  # squared offsets as a constant: one exp, no gather (a gather costs 6x more)
        i = np.arange(n, dtype=np.float32)
        squared = tf.constant(np.square(i[:, None] - i[None, :]))
    else:
        i = tf.cast(tf.range(n), tf.float32)
        squared = tf.square(i[:, None] - i[None, :])
    g = tf.exp(squared * scale)
    return g / tf.reduce_sum(g, axis=1, keepdims=True)


def apply_separable(image: tf.Tensor, rows: tf.Tensor, cols: tf.Tensor, expands: bool = False) -> tf.Tensor:
    """rows @ image @ cols^T per channel for one image [H, W, C] -> [h, w, C].

    The axis applied second runs as a broadcast matmul over the other axis,
    cheap when that axis is small: rows go first when shrinking, columns first
    when enlarging (no transposes). A size-keeping map of a large image (a lone
    blur or crop) transposes instead, so both products are single large GEMMs.
    """
    (in_h, in_w, channels), out_h, out_w = image.shape.as_list(), rows.shape[0], cols.shape[0]
    if expands:
        x = tf.matmul(cols, image)  # [H, w, C]
        x = tf.matmul(rows, _reshape(x, [in_h, _product(out_w, channels)], lambda: [tf.shape(x)[0], -1]))
        return _reshape(x, [out_h, out_w, channels], lambda: [tf.shape(rows)[0], tf.shape(cols)[0], -1])
    x = tf.matmul(rows, _reshape(image, [in_h, _product(in_w, channels)], lambda: [tf.shape(image)[0], -1]))
    x = _reshape(x, [out_h, in_w, channels], lambda: [tf.shape(rows)[0], tf.shape(image)[1], -1])  # [h, W, C]
    if out_h is not None and out_h > _BROADCAST_MAX and None not in (in_w, out_w, channels):
        x = tf.matmul(cols, tf.reshape(tf.transpose(x, [1, 0, 2]), [in_w, out_h * channels]))  # [w, h*C]
        return tf.transpose(tf.reshape(x, [out_w, out_h, channels]), [1, 0, 2])
    return tf.matmul(cols, x)  # [h, w, C]


_BROADCAST_MAX = 32  # largest other-axis length for which a broadcast matmul beats transposes


def _product(a, b):
    return None if a is None or b is None else a * b


def _reshape(x, dims, dynamic):
    """tf.reshape to ``dims`` (ints, None where unknown): one unknown becomes -1 (no shape ops),
    more are read at run time from ``dynamic()``."""
    if sum(d is None for d in dims) <= 1:
        return tf.reshape(x, [-1 if d is None else d for d in dims])
    return tf.reshape(x, tf.stack(dynamic()))


def _resample(image: tf.Tensor, stages: Sequence[Stage]) -> tf.Tensor:
    """Apply fused stages: one matrix product per run of non-expanding stages, then clip."""
    groups: List[List[Stage]] = []
    for stage in stages:
        if not groups or stage.expands:
            groups.append([])
        groups[-1].append(stage)
    for group in groups:
        if len(group) == 1 and group[0].resize is not None and not group[0].resize[1]:
            kernel, antialias = group[0].resize
            size = list(group[0].out.hw) if _static(group[0].out.hw) else tf.stack(group[0].out.hw)
            image = tf.image.resize(image, size, method=kernel, antialias=antialias)
            continue
        rows, cols = group[-1].matrices()
        for stage in reversed(group[:-1]):  # right to left: the small output side first
            stage_rows, stage_cols = stage.matrices()
            same = rows is cols and stage_rows is stage_cols  # square: one product serves both axes
            rows = tf.matmul(rows, stage_rows)
            cols = rows if same else tf.matmul(cols, stage_cols)
        image = apply_separable(image, rows, cols, expands=group[0].expands)
    return tf.clip_by_value(image, 0.0, 255.0)


# --------------------------------------------------------------------------- ops

class Op:
    """A per-sample degradation: ``op(image [H, W, C] float32 in [0, 255], seed [2]) -> image``.

    Subclasses are registered in ``OPS`` under ``name``; ``example`` is a spec
    that exercises the op (used by the docs and by the tests of every op).
    """

    name = ""
    example = ""

    def __new__(cls, *args, **kwargs):
        op = super().__new__(cls)
        try:
            bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
            op._config = dict(list(bound.arguments.items())[1:])
        except TypeError:  # copy / pickle create bare instances; __init__ reports bad calls
            op._config = {}
        return op

    def get_config(self) -> Dict[str, Any]:
        """The arguments the op was created with (by name)."""
        return dict(self._config)

    def output_hw(self, hw, origin_hw):
        """Static output (h, w) for the static input size ``hw`` (None: varies per sample or unknown)."""
        return hw

    def __call__(self, image, seed):
        raise NotImplementedError

    def __repr__(self) -> str:
        return _format_op(self)


class LinearOp(Op):
    """A separable linear op: ``stages(size, seed, origin) -> [Stage]``, fused by ``Degradation``.

    ``size`` is the sample's current ``Size``, ``origin`` the ``Size`` the
    degradation started from (``resize()`` goes back to it).
    """

    def stages(self, size: Size, seed, origin: Size) -> List[Stage]:
        raise NotImplementedError

    def __call__(self, image, seed):
        image = tf.convert_to_tensor(image, tf.float32)
        size = Size.of(image)
        return _resample(image, self.stages(size, _as_seed(seed), size))


def _register(cls):
    # Library code runs as written inside tf.function: its Python conditions are static.
    cls.__call__ = tf.autograph.experimental.do_not_convert(cls.__call__)
    OPS.register(cls.name)(cls)
    return cls


@_register
class RandomFlip(Op):
    """Horizontal flip with probability ``p`` (geometric augmentation)."""

    name = "flip"
    example = "flip(0.5)"

    def __init__(self, p: float = 0.5):
        _ordered_range(self.name, "p", p, "p", None, 0.0, 1.0)
        self.p = float(p)

    def __call__(self, image, seed):
        image = tf.convert_to_tensor(image, tf.float32)
        flip = tf.random.stateless_uniform([], _as_seed(seed)) < self.p
        width = _dim(image, -2)
        columns = tf.range(width)
        return tf.gather(image, tf.where(flip, width - 1 - columns, columns), axis=-2)


@_register
class RandomCrop(LinearOp):
    """A random crop of side ``s`` x the image side, s ~ U[min_scale, max_scale], resized back (bicubic)."""

    name = "crop"
    example = "crop(0.8, 1.0)"

    def __init__(self, min_scale: float = 0.8, max_scale: float = 1.0):
        _ordered_range(self.name, "min_scale", min_scale, "max_scale", max_scale, 1e-3, 1.0)
        self.min_scale, self.max_scale = float(min_scale), float(max_scale)

    def stages(self, size, seed, origin):
        s_scale, s_y, s_x = tf.unstack(_split(seed, 3))
        scale = _uniform(s_scale, self.min_scale, self.max_scale)
        rows, cols = self._axis(size, 0, scale, s_y), self._axis(size, 1, scale, s_x)
        return [Stage(size, lambda: (rows, cols))]

    def _axis(self, size, axis, scale, seed):
        """[n, n]: rows start..start+crop of the input, resized (bicubic) to n."""
        n = size.hw[axis]
        if size.support is not None and len(size.support) == 1:
            lo, hi = max(1, round(self.min_scale * n)), max(1, min(n, round(self.max_scale * n)))
        else:
            lo, hi = 1, n
        crop = tf.clip_by_value(tf.cast(tf.round(scale * tf.cast(n, tf.float32)), tf.int32), lo, hi)
        start = tf.random.stateless_uniform([], seed, 0, n - crop + 1, dtype=tf.int32)
        if isinstance(hi, int) and isinstance(lo, int):  # static: look the up-sampling matrix up in a table
            crops = Size((crop, crop), tuple((c, c) for c in range(lo, hi + 1)), crop - lo)
            up = _axis_resize(crops, 0, (n,), None, "bicubic", False)  # [n, crop]
        else:
            up = resize_matrix(crop, n, "bicubic")
        return tf.pad(up, [[0, 0], [start, n - crop - start]])


@_register
class GaussianBlur(LinearOp):
    """Optical blur: a Gaussian PSF with sigma ~ U[min_sigma, max_sigma] pixels (fixed if max_sigma is None)."""

    name = "blur"
    example = "blur(0.5, 2.0)"

    def __init__(self, min_sigma: float, max_sigma: Optional[float] = None):
        _ordered_range(self.name, "min_sigma", min_sigma, "max_sigma", max_sigma, 0.0, 1e3)
        self.min_sigma, self.max_sigma = min_sigma, max_sigma

    def stages(self, size, seed, origin):
        sigma = _uniform(seed, self.min_sigma, self.max_sigma)
        same = size.square or (_static(size.hw) is not None and size.hw[0] == size.hw[1])

        def make():
            rows = _gaussian_rows(size.hw[0], sigma)
            return rows, rows if same else _gaussian_rows(size.hw[1], sigma)

        return [Stage(size, make)]


@_register
class Resolution(LinearOp):
    """Down-sample to a size drawn per sample (the first step of Knoche et al. 2021).

    Sampler: exactly one of ``size`` (r or h x w), ``sizes`` with ``probs``,
    ``low``/``high`` (with ``log``, ``aspect``) or ``preset`` (``SIZE_PRESETS``).
    The output stays at the low size; follow with ``resize()`` to go back up.
    """

    name = "resolution"
    example = "resolution(sizes=[7, 14, 20], probs=[1, 1, 2])"

    def __init__(self, size=None, sizes=None, probs=None, low=None, high=None, log=False, aspect=1.0,
                 preset=None, kernel="bicubic", antialias=True):
        self.sampler = make_sampler(size, sizes, probs, low, high, log, aspect, preset)
        _check_kernel("kernel", kernel)
        self.kernel, self.antialias = kernel, bool(antialias)

    def output_hw(self, hw, origin_hw):
        return self.sampler.fixed_hw

    def stages(self, size, seed, origin):
        support = self.sampler.support
        index = self.sampler.sample_index(seed)
        heights, widths = tuple(h for h, _ in support), tuple(w for _, w in support)
        if index is None:
            hw = support[0]
        else:
            h = tf.gather(tf.constant(heights, tf.int32), index)
            hw = (h, h if heights == widths else tf.gather(tf.constant(widths, tf.int32), index))
        out = Size(hw, support, index)

        def make():
            rows = _axis_resize(size, 0, heights, index, self.kernel, self.antialias)
            same = size.square and heights == widths
            return rows, rows if same else _axis_resize(size, 1, widths, index, self.kernel, self.antialias)

        return [Stage(out, make, resize=(self.kernel, self.antialias))]


@_register
class Resize(LinearOp):
    """Resize to ``size`` (r or h x w); ``resize()`` goes back to the size the degradation started from.

    ``antialias`` only matters when shrinking (off by default: this is the
    up-sampling step of Knoche et al.).
    """

    name = "resize"
    example = "resize(32)"

    def __init__(self, size=None, kernel="bicubic", antialias=False):
        self.size = None if size is None else _size_pair(size, "size")
        _check_kernel("kernel", kernel)
        self.kernel, self.antialias = kernel, bool(antialias)

    def output_hw(self, hw, origin_hw):
        return self.size or origin_hw

    def stages(self, size, seed, origin):
        out = self.size or origin.hw
        if _static(out) is not None and size.support == (out,):
            return []  # already at the target size
        static = _static(out)

        def make():
            rows = _axis_resize(size, 0, (out[0],), None, self.kernel, self.antialias)
            same = size.square and static is not None and out[0] == out[1]
            return rows, rows if same else _axis_resize(size, 1, (out[1],), None, self.kernel, self.antialias)

        return [Stage(Size(tuple(out), None if static is None else (static,)), make, expands=True,
                      resize=(self.kernel, self.antialias))]


@_register
class GaussianNoise(Op):
    """Sensor read noise: x + N(0, sigma^2), sigma ~ U[min_sigma, max_sigma] grey levels, clipped."""

    name = "gaussian_noise"
    example = "gaussian_noise(2, 10)"

    def __init__(self, min_sigma: float, max_sigma: Optional[float] = None):
        _ordered_range(self.name, "min_sigma", min_sigma, "max_sigma", max_sigma, 0.0, 255.0)
        self.min_sigma, self.max_sigma = min_sigma, max_sigma

    def __call__(self, image, seed):
        image = tf.convert_to_tensor(image, tf.float32)
        s_sigma, s_noise = tf.unstack(_split(_as_seed(seed), 2))
        sigma = _uniform(s_sigma, self.min_sigma, self.max_sigma)
        noise = tf.random.stateless_normal(tf.shape(image), s_noise)
        return tf.clip_by_value(image + sigma * noise, 0.0, 255.0)


@_register
class PoissonNoise(Op):
    """Shot noise: photon counts ~ Poisson(x / 255 * peak), peak ~ U[min_peak, max_peak] photons at white.

    The variance at grey level x is x * 255 / peak (Poisson-Gaussian model of
    Foi et al. 2008; add ``gaussian_noise`` for the read noise). Apply it at the
    sensor resolution (after ``resolution``), where it is also cheap.
    """

    name = "poisson_noise"
    example = "poisson_noise(50, 500)"

    def __init__(self, min_peak: float, max_peak: Optional[float] = None):
        _ordered_range(self.name, "min_peak", min_peak, "max_peak", max_peak, 1e-3, 1e9)
        self.min_peak, self.max_peak = min_peak, max_peak

    def __call__(self, image, seed):
        image = tf.convert_to_tensor(image, tf.float32)
        s_peak, s_noise = tf.unstack(_split(_as_seed(seed), 2))
        peak = _uniform(s_peak, self.min_peak, self.max_peak)
        lam = tf.clip_by_value(image, 0.0, 255.0) * (peak / 255.0)
        counts = tf.random.stateless_poisson(tf.shape(image), s_noise, lam, dtype=tf.float32)
        return tf.clip_by_value(counts * (255.0 / peak), 0.0, 255.0)


@_register
class JpegCompression(Op):
    """JPEG re-compression at an integer quality ~ U{min_quality..max_quality} (fixed if max is None).

    Pixels are rounded to uint8, encoded with ``tf.image.adjust_jpeg_quality``
    (4:2:0 chroma, as most cameras) and decoded with the accurate integer IDCT.
    """

    name = "jpeg"
    example = "jpeg(30, 90)"

    def __init__(self, min_quality: int, max_quality: Optional[int] = None):
        for arg, v in (("min_quality", min_quality), ("max_quality", max_quality)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise ValueError(f"{self.name}: {arg} must be an int, got {v!r}")
        _ordered_range(self.name, "min_quality", min_quality, "max_quality", max_quality, 1, 100)
        self.min_quality, self.max_quality = min_quality, max_quality

    def __call__(self, image, seed):
        image = tf.convert_to_tensor(image, tf.float32)
        quality = _uniform_int(_as_seed(seed), self.min_quality, self.max_quality)
        pixels = tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)
        out = tf.image.adjust_jpeg_quality(pixels, quality, dct_method="INTEGER_ACCURATE")
        out = tf.ensure_shape(out, image.shape)
        return tf.cast(out, tf.float32)


# --------------------------------------------------------------------------- composition

def _map_samples(fn, images, seeds, out_shape) -> tf.Tensor:
    """[fn(images[i], seeds[i]) for i] stacked: a Python loop eagerly (fast), ``tf.map_fn`` in graphs."""
    if tf.executing_eagerly():
        return tf.stack([fn(x, s) for x, s in zip(images, seeds)]) if len(images) else tf.zeros([0, *out_shape])
    spec = tf.TensorSpec(out_shape, tf.float32)
    return tf.map_fn(lambda a: fn(a[0], a[1]), (images, seeds), fn_output_signature=spec)


class Degradation:
    """A sequence of ops applied left to right; ``deg(image, seed)``.

    One image [H, W, C] with a seed [2] (or a Python int), or a batch
    [B, H, W, C] with a batch seed: sample i then uses ``stateless_split(seed, B)[i]``
    as its own seed (per-sample randomness). Op k of a sample gets
    ``stateless_split(sample_seed, len(ops))[k]``. Consecutive linear ops are
    fused (see the module docstring); the output is clipped to [0, 255].
    """

    def __init__(self, ops: Sequence[Op]):
        for op in ops:
            if not isinstance(op, Op):
                raise TypeError(f"Degradation takes Op instances, got {op!r}")
        self.ops = list(ops)

    @tf.autograph.experimental.do_not_convert
    def __call__(self, images, seed):
        images = tf.convert_to_tensor(images, tf.float32)
        if images.shape.rank == 4:
            return self._batch(images, _as_seed(seed))
        if images.shape.rank != 3:
            raise ValueError(f"images must be [H, W, C] or [B, H, W, C], got shape {images.shape}")
        return self._single(images, _as_seed(seed))

    def _single(self, image, seed):
        if not self.ops:
            return image
        seeds = tf.unstack(_split(seed, len(self.ops)))
        origin = size = Size.of(image)
        pending: List[Stage] = []
        for op, op_seed in zip(self.ops, seeds):
            if isinstance(op, LinearOp):
                new = op.stages(size, op_seed, origin)
                pending.extend(new)
                size = new[-1].out if new else size
            else:  # non-linear ops keep the size (and its support)
                if pending:
                    image, pending = _resample(image, pending), []
                image = op(image, op_seed)
        return _resample(image, pending) if pending else image

    def _batch(self, images, seed):
        out_hw = self.output_hw(tuple(images.shape[1:3]))
        if out_hw is None:
            raise ValueError(
                f"a batch needs a static image size and a fixed output size; {self.spec!r} on {images.shape} "
                "gives sizes that vary per sample (end the spec with resize())")
        seeds = _split(seed, tf.shape(images)[0])
        return _map_samples(self._single, images, seeds, [out_hw[0], out_hw[1], images.shape[-1]])

    def output_hw(self, hw: Tuple[Optional[int], Optional[int]]) -> Optional[Tuple[int, int]]:
        """Static output size for the static input size ``hw``, or None if it varies per sample."""
        origin = out = None if None in tuple(hw) else tuple(hw)
        for op in self.ops:
            out = op.output_hw(out, origin)
        return None if out is None or None in out else tuple(out)

    def map_fn(self, key: str = "image", out_key: str = "lr", upsample: bool = True) -> "PairedViews":
        """A ``map_fn(features, seed)`` for ``make_dataset`` writing the degraded ``key`` to ``out_key``.

        ``out_key=key`` degrades in place. See ``PairedViews`` for ``upsample``.
        """
        return PairedViews(self, key=key, lr_key=out_key, upsample=upsample)

    # config / spec round trip
    def get_config(self) -> List[Dict[str, Any]]:
        return [{"op": op.name, **op.get_config()} for op in self.ops]

    @classmethod
    def from_config(cls, config) -> "Degradation":
        return build(config)

    @property
    def spec(self) -> str:
        return "|".join(_format_op(op) for op in self.ops)

    def __repr__(self) -> str:
        return f"Degradation({self.spec!r})"

    def __len__(self) -> int:
        return len(self.ops)


class PairedViews:
    """``map_fn(features, seed)``: the same face as HR (``key``) and LR (``lr_key``).

    The optional ``geometric`` degradation (e.g. ``"flip|crop(0.9, 1)"``) is drawn
    once and applied to the image; the result is the HR view and the LR view is
    ``degradation`` of that same HR view, so both share every flip and crop.
    ``upsample=True`` brings the LR view back to the HR size (bicubic, as in
    Knoche et al.) when the degradation ends elsewhere; ``upsample=False`` keeps
    the LR size (for SR nets with small inputs), which must then be fixed.
    """

    def __init__(self, degradation, geometric=None, upsample: bool = True, key: str = "image",
                 lr_key: str = "lr"):
        self.degradation = build(degradation)
        self.geometric = None if geometric is None else build(geometric)
        self.upsample, self.key, self.lr_key = bool(upsample), key, lr_key
        self._lr = Degradation(self.degradation.ops + [Resize()]) if self.upsample else self.degradation

    @tf.autograph.experimental.do_not_convert
    def __call__(self, features: Mapping[str, tf.Tensor], seed) -> Dict[str, tf.Tensor]:
        if self.key not in features:
            raise KeyError(f"PairedViews: features have no {self.key!r} (keys: {sorted(features)})")
        image = tf.convert_to_tensor(features[self.key], tf.float32)
        geo_seed, deg_seed = tf.unstack(_split(_as_seed(seed), 2))
        hw = tuple(image.shape[-3:-1])
        if self.geometric is not None:
            if None not in hw and self.geometric.output_hw(hw) != hw:
                raise ValueError(f"geometric augmentation {self.geometric.spec!r} must keep the image size {hw}")
            image = self.geometric(image, geo_seed)
        if not self.upsample and self._lr.output_hw(hw) is None:
            raise ValueError(f"upsample=False needs a fixed LR size, but {self._lr.spec!r} on {hw} gives sizes that "
                             "vary per sample; use a fixed size such as resolution(size=28)")
        out = dict(features)
        out[self.key] = image
        out[self.lr_key] = self._lr(image, deg_seed)
        return out


class BatchMix:
    """``batch_map_fn(batch, seed)``: degrade a fraction of each batch and mark it in ``mask_key``.

    ``exact=True`` degrades exactly round(fraction * B) samples of every batch
    (chosen at random): the batch composition is constant, as in BT's "half of
    every batch". ``exact=False`` degrades each sample independently with
    probability ``fraction`` (the count is Binomial(B, fraction)). Sample i of a
    batch, if chosen, gets the same result as ``degradation(batch, seed')[i]``
    with seed' the degradation seed; ``mask_key`` (bool [B]) tells losses which
    samples are degraded. The degradation must keep the image size.
    """

    def __init__(self, degradation, fraction: float = 0.5, exact: bool = True, key: str = "image",
                 mask_key: str = "degraded"):
        self.degradation = build(degradation)
        _ordered_range("BatchMix", "fraction", fraction, "fraction", None, 0.0, 1.0)
        self.fraction, self.exact, self.key, self.mask_key = float(fraction), bool(exact), key, mask_key

    def mask(self, batch_size, seed) -> tf.Tensor:
        """bool [B]: which samples of the batch are degraded."""
        u = tf.random.stateless_uniform([batch_size], seed)
        if not self.exact:
            return u < self.fraction
        count = tf.cast(tf.round(self.fraction * tf.cast(batch_size, tf.float32)), tf.int32)
        rank = tf.argsort(tf.argsort(u))
        return rank < count

    @tf.autograph.experimental.do_not_convert
    def __call__(self, batch: Mapping[str, tf.Tensor], seed) -> Dict[str, tf.Tensor]:
        images = tf.convert_to_tensor(batch[self.key], tf.float32)
        mask_seed, deg_seed = tf.unstack(_split(_as_seed(seed), 2))
        mask = self.mask(tf.shape(images)[0], mask_seed)
        index = tf.where(mask)
        seeds = tf.gather_nd(_split(deg_seed, tf.shape(images)[0]), index)
        chosen = tf.gather_nd(images, index)
        in_hw = tuple(images.shape[1:3])
        if None in in_hw or self.degradation.output_hw(in_hw) != in_hw:
            raise ValueError(f"BatchMix: {self.degradation.spec!r} must map images {in_hw} to the same static size "
                             "(end it with resize())")
        degraded = _map_samples(self.degradation._single, chosen, seeds, images.shape[1:])
        out = dict(batch)
        out[self.key] = tf.tensor_scatter_nd_update(images, index, degraded)
        out[self.mask_key] = mask
        return out


# --------------------------------------------------------------------------- spec parsing

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<size>\d+x\d+)(?![\w.])
    | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)(?![\w.])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<string>'[^']*'|"[^"]*")
    | (?P<punct>[()\[\],=|])
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"true": True, "false": False, "none": None}


class _Parser:
    """Recursive-descent parser of the spec grammar (see the module docstring)."""

    def __init__(self, spec: str):
        self.spec = spec
        self.tokens: List[Tuple[str, Any, int]] = []
        pos = 0
        while pos < len(spec):
            if spec[pos:].strip() == "":
                break
            m = _TOKEN.match(spec, pos)
            if not m or m.lastgroup is None:
                start = len(spec) - len(spec[pos:].lstrip())
                self.fail(f"unexpected character {spec[start]!r}", start)
            kind, text = m.lastgroup, m.group(m.lastgroup)
            self.tokens.append((kind, text, m.start(kind)))
            pos = m.end()
        self.tokens.append(("end", "", len(spec)))
        self.i = 0

    def fail(self, message: str, pos: int):
        raise ValueError(f"degradation spec: {message} at column {pos + 1}\n  {self.spec}\n  {' ' * pos}^")

    def peek(self):
        return self.tokens[self.i]

    def take(self, kind: str, text: Optional[str] = None, what: str = ""):
        tok = self.tokens[self.i]
        if tok[0] != kind or (text is not None and tok[1] != text):
            found = "end of spec" if tok[0] == "end" else repr(tok[1])
            self.fail(f"expected {what or repr(text) or kind}, found {found}", tok[2])
        self.i += 1
        return tok

    def at(self, text: str) -> bool:
        tok = self.peek()
        return tok[0] == "punct" and tok[1] == text

    def parse(self) -> List[Tuple[str, list, dict, int]]:
        ops = [self.op()]
        while self.at("|"):
            self.i += 1
            ops.append(self.op())
        self.take("end", what="'|' or end of spec")
        return ops

    def op(self):
        _, name, pos = self.take("name", what="an op name")
        args, kwargs = [], {}
        if self.at("("):
            self.i += 1
            while not self.at(")"):
                tok = self.peek()
                if tok[0] == "name" and self.tokens[self.i + 1][1] == "=":
                    self.i += 2
                    if tok[1] in kwargs:
                        self.fail(f"{name}: argument {tok[1]!r} given twice", tok[2])
                    kwargs[tok[1]] = self.value()
                else:
                    if kwargs:
                        self.fail(f"{name}: positional argument after keyword arguments", tok[2])
                    args.append(self.value())
                if not self.at(")"):
                    self.take("punct", ",", "',' or ')'")
            self.i += 1
        return name, args, kwargs, pos

    def value(self):
        kind, text, pos = self.peek()
        self.i += 1
        if kind == "size":
            h, w = text.split("x")
            return (int(h), int(w))
        if kind == "number":
            return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
        if kind == "string":
            return text[1:-1]
        if kind == "name":
            return _KEYWORDS.get(text.lower(), text)
        if kind == "punct" and text == "[":
            items = []
            while not self.at("]"):
                items.append(self.value())
                if not self.at("]"):
                    self.take("punct", ",", "',' or ']'")
            self.i += 1
            return items
        self.fail("expected a value" if kind != "end" else "unexpected end of spec", pos)


def _create(name: str, args: Sequence[Any], kwargs: Mapping[str, Any], where: str) -> Op:
    """OPS[name](*args, **kwargs) with errors that name the op and the argument."""
    if name not in OPS:
        close = difflib.get_close_matches(name, OPS.names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{where}: unknown op {name!r}{hint}; registered: {', '.join(OPS.names())}")
    cls = OPS.get(name)
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in kwargs:
        if key not in params:
            close = difflib.get_close_matches(key, params, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{where}: {name}: unexpected argument {key!r}{hint} (arguments: {', '.join(params)})")
    try:
        inspect.signature(cls.__init__).bind(None, *args, **kwargs)
    except TypeError as e:
        raise ValueError(f"{where}: {name}: {e} (arguments: {', '.join(params)})") from None
    try:
        return cls(*args, **kwargs)
    except (ValueError, TypeError) as e:
        message = str(e)
        prefix = f"{name}: "
        raise ValueError(f"{where}: {message if message.startswith(prefix) else prefix + message}") from None


def parse(spec: str) -> Degradation:
    """A ``Degradation`` from a spec string (or a ``PRESETS`` name); errors name the op and argument."""
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a string, got {type(spec).__name__}")
    spec = PRESETS.get(spec.strip(), spec)
    parser = _Parser(spec)
    ops = []
    for name, args, kwargs, pos in parser.parse():
        try:
            ops.append(_create(name, args, kwargs, f"degradation spec {spec!r}, op at column {pos + 1}"))
        except ValueError as e:
            raise ValueError(f"{e}\n  {spec}\n  {' ' * pos}^") from None
    return Degradation(ops)


def build(config) -> Degradation:
    """A ``Degradation`` from a spec string, a ``Degradation``, or a list of ops / spec strings /
    ``{"op": name, **args}`` dicts (the format of ``Degradation.get_config``)."""
    if isinstance(config, Degradation):
        return config
    if isinstance(config, str):
        return parse(config)
    if isinstance(config, Op):
        return Degradation([config])
    if not isinstance(config, (list, tuple)):
        raise TypeError(f"degradation config must be a spec string or a list, got {type(config).__name__}")
    ops: List[Op] = []
    for i, entry in enumerate(config):
        if isinstance(entry, Op):
            ops.append(entry)
        elif isinstance(entry, str):
            ops.extend(parse(entry).ops)
        elif isinstance(entry, Mapping):
            if "op" not in entry:
                raise ValueError(f"degradation config entry {i} {dict(entry)!r} has no 'op' key")
            kwargs = {k: v for k, v in entry.items() if k != "op"}
            ops.append(_create(entry["op"], [], kwargs, f"degradation config entry {i}"))
        else:
            raise TypeError(f"degradation config entry {i} must be a dict, a spec string or an Op, got {entry!r}")
    return Degradation(ops)


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


def _format_op(op: Op) -> str:
    args = ", ".join(f"{k}={_format_value(v)}" for k, v in op.get_config().items())
    return f"{op.name}({args})"
