"""Facial-prior supervision of a face hallucination net: landmark heatmaps and parsing maps.

``render_landmark_heatmaps`` turns 5-point (or any L-point) landmarks into the
Gaussian heatmap targets of the landmark path; ``HeatmapMSELoss`` and
``ParsingCrossEntropyLoss`` supervise the landmark and parsing paths (FSRNet,
Chen et al. 2018; RIM's tri-path generator).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import keras
import tensorflow as tf

from lrfr_tf.losses.loss_registry import LOSSES

_PACKAGE = "lrfr_tf"


def render_landmark_heatmaps(
    landmarks,
    heatmap_size: Tuple[int, int],
    sigma: float = 1.5,
    image_size: Optional[Sequence[int]] = None,
):
    """Gaussian heatmaps H_l(u, v) = exp(-((u - x_l)^2 + (v - y_l)^2) / (2 sigma^2)).

    Args:
      landmarks: float [B, L, 2] or [L, 2], (x, y) pixel coordinates (pixel centres
        at integer coordinates).
      heatmap_size: (height, width) of the heatmaps.
      sigma: Gaussian standard deviation, in heatmap pixels.
      image_size: (height, width) of the image the landmarks refer to; when given,
        coordinates are mapped to the heatmap grid (x_h = (x + 0.5) * W_h / W - 0.5).

    Returns:
      float32 [B, H, W, L] (or [H, W, L]) with peak value 1 at each landmark.
    """
    if not float(sigma) > 0.0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    pts = tf.cast(landmarks, tf.float32)
    if pts.shape.rank not in (2, 3) or pts.shape[-1] != 2:
        raise ValueError(f"landmarks must be [B, L, 2] or [L, 2] (x, y), got shape {pts.shape}")
    unbatched = pts.shape.rank == 2
    if unbatched:
        pts = pts[tf.newaxis]
    height, width = int(heatmap_size[0]), int(heatmap_size[1])
    if image_size is not None:
        scale = tf.constant([width / float(image_size[1]), height / float(image_size[0])], tf.float32)
        pts = (pts + 0.5) * scale - 0.5
    u = tf.range(width, dtype=tf.float32)[tf.newaxis, tf.newaxis, :, tf.newaxis]
    v = tf.range(height, dtype=tf.float32)[tf.newaxis, :, tf.newaxis, tf.newaxis]
    x = pts[:, tf.newaxis, tf.newaxis, :, 0]
    y = pts[:, tf.newaxis, tf.newaxis, :, 1]
    heatmaps = tf.exp(-(tf.square(u - x) + tf.square(v - y)) / (2.0 * float(sigma) ** 2))
    return heatmaps[0] if unbatched else heatmaps


@keras.saving.register_keras_serializable(package=_PACKAGE)
class HeatmapMSELoss(keras.losses.Loss):
    """Per-image mean squared error 1/(H W L) sum (H_pred - H_true)^2 between landmark heatmaps."""

    def __init__(self, name: str = "heatmap_mse", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        err = tf.square(tf.cast(y_pred, tf.float32) - tf.cast(y_true, tf.float32))
        return tf.reduce_mean(tf.reshape(err, [tf.shape(err)[0], -1]), axis=-1)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ParsingCrossEntropyLoss(keras.losses.Loss):
    """Per-image mean pixel cross-entropy -1/(H W) sum_p sum_c q_pc log softmax(z_p)_c of parsing maps.

    ``y_pred``: logits [B, H, W, C]. ``y_true``: integer class map [B, H, W]
    (q one-hot) or per-pixel class probabilities [B, H, W, C].
    """

    def __init__(self, name: str = "parsing_ce", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_true, y_pred = tf.convert_to_tensor(y_true), tf.convert_to_tensor(y_pred)
        log_probs = tf.nn.log_softmax(tf.cast(y_pred, tf.float32), axis=-1)
        if y_true.shape.rank == y_pred.shape.rank - 1:
            y_true = tf.one_hot(tf.cast(y_true, tf.int32), tf.shape(y_pred)[-1], dtype=tf.float32)
        ce = -tf.reduce_sum(tf.cast(y_true, tf.float32) * log_probs, axis=-1)
        return tf.reduce_mean(tf.reshape(ce, [tf.shape(ce)[0], -1]), axis=-1)


LOSSES.register("heatmap_mse")(HeatmapMSELoss)
LOSSES.register("parsing_ce")(ParsingCrossEntropyLoss)
