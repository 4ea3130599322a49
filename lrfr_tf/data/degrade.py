"""Degradation ops that simulate low-resolution cameras, all in TensorFlow.

Images are float32 RGB in [0, 255], shape [H, W, C] or [B, H, W, C].
"""

from __future__ import annotations

from typing import Sequence, Tuple, Union

import tensorflow as tf

KERNELS = ("bicubic", "bilinear", "area", "nearest")

SizeLike = Union[int, Sequence[int], tf.Tensor]


def _hw(size: SizeLike) -> tf.Tensor:
    """int, (h, w) or a tensor of shape [] / [2] -> int32 tensor [h, w]."""
    s = tf.cast(tf.convert_to_tensor(size), tf.int32)
    return tf.cond(tf.equal(tf.size(s), 1), lambda: tf.repeat(tf.reshape(s, [-1])[:1], 2), lambda: tf.reshape(s, [2])) if s.shape.rank != 0 else tf.stack([s, s])


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
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    up_kernel = up_kernel or kernel
    if up_kernel not in KERNELS:
        raise ValueError(f"up_kernel must be one of {KERNELS}, got {up_kernel!r}")
    images = tf.convert_to_tensor(images, tf.float32)
    in_hw = tf.shape(images)[-3:-1]
    out_hw = in_hw if out_size is None else _hw(out_size)
    small = tf.image.resize(images, _hw(size), method=kernel, antialias=antialias)
    up = tf.image.resize(small, out_hw, method=up_kernel)
    return tf.clip_by_value(up, 0.0, 255.0)
