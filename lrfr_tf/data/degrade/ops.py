"""The degradation ops (flip, crop, blur, resolution, resize, noise, JPEG), registered by name in ``OPS``."""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Optional

import tensorflow as tf

from lrfr_tf.data.degrade.common import (
    OPS, _as_seed, _check_kernel, _format_op, _ordered_range, _split, _static, _uniform, _uniform_int,
)
from lrfr_tf.data.degrade.samplers import _size_pair, make_sampler
from lrfr_tf.data.degrade.resampling import Size, Stage, _axis_resize, _gaussian_rows, _resample, resize_matrix


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


def flip_horizontal(images):
    """Images [..., H, W, C] (NumPy arrays or tensors) mirrored left-right: column x becomes W - 1 - x.

    The one image flip: the ``flip`` op (training augmentation), the evaluation's test-time flip and RIM's
    flipped priors use it; points follow it as x -> W - 1 - x (``prior_targets.flip_landmarks``).
    """
    return images[..., ::-1, :]


@_register
class RandomFlip(Op):
    """Horizontal flip (``flip_horizontal``) with probability ``p`` (geometric augmentation)."""

    name = "flip"
    example = "flip(0.5)"

    def __init__(self, p: float = 0.5):
        _ordered_range(self.name, "p", p, "p", None, 0.0, 1.0)
        self.p = float(p)

    def draw(self, seed) -> tf.Tensor:
        """bool scalar: whether the sample of ``seed`` is flipped (one decision for an image and its priors)."""
        return tf.random.stateless_uniform([], _as_seed(seed)) < self.p

    def __call__(self, image, seed):
        image = tf.convert_to_tensor(image, tf.float32)
        return tf.cond(self.draw(seed), lambda: flip_horizontal(image), lambda: image)


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


