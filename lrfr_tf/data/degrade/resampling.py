"""Separable resampling: TF's resize kernels as matrices, fused per axis and applied as small products."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from lrfr_tf.data.degrade.common import _image_hw, _static


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


def _resample(image: tf.Tensor, stages: Sequence[Stage], fuse: bool = True) -> tf.Tensor:
    """Apply the stages, then clip once.

    ``fuse``: one matrix product per run of non-expanding stages. Unfused, every stage runs alone and
    every resize stage as ``tf.image.resize`` (antialiased ones too): the arithmetic of two plain
    resizes, on one image [H, W, C] or, when every stage is a resize, a batch [B, H, W, C].
    """
    groups: List[List[Stage]] = []
    for stage in stages:
        if not groups or stage.expands or not fuse:
            groups.append([])
        groups[-1].append(stage)
    for group in groups:
        if len(group) == 1 and group[0].resize is not None and (not group[0].resize[1] or not fuse):
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


