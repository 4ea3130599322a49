"""Pixel reconstruction losses between super-resolved and HR images."""

from __future__ import annotations

import keras
import tensorflow as tf

from lrfr_tf.losses.loss_registry import LOSSES

_PACKAGE = "lrfr_tf"
_NORMS = ("l2", "l1")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PixelLoss(keras.losses.Loss):
    """Per-image mean pixel error between SR (``y_pred``) and HR (``y_true``) images.

      l2: 1/N sum_p ((sr_p - hr_p) / r)^2        l1: 1/N sum_p |sr_p - hr_p| / r

    over the N = H * W * C values of each image; r = ``data_range`` (255 for the
    [0, 255] images of lrfr_tf pipelines, so the loss is that of [0, 1] images).
    """

    def __init__(self, norm: str = "l2", data_range: float = 255.0, name: str = "pixel", **kwargs):
        super().__init__(name=name, **kwargs)
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
        if not float(data_range) > 0.0:
            raise ValueError(f"data_range must be > 0, got {data_range}")
        self.norm = norm
        self.data_range = float(data_range)

    def call(self, y_true, y_pred):
        diff = (tf.cast(y_pred, tf.float32) - tf.cast(y_true, tf.float32)) / self.data_range
        err = tf.square(diff) if self.norm == "l2" else tf.abs(diff)
        return tf.reduce_mean(tf.reshape(err, [tf.shape(err)[0], -1]), axis=-1)

    def get_config(self):
        return {**super().get_config(), "norm": self.norm, "data_range": self.data_range}


LOSSES.register("pixel")(PixelLoss)
