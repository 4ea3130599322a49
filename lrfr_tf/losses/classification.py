"""Softmax cross-entropy over the logits of a margin head."""

from __future__ import annotations

import keras
import tensorflow as tf

from lrfr_tf.losses.loss_registry import LOSSES

_PACKAGE = "lrfr_tf"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SoftmaxCrossEntropyLoss(keras.losses.Loss):
    """-sum_j q_j log softmax(z)_j with q = (1 - eps) onehot(y) + eps / C (label smoothing eps).

    ``y_true``: integer class ids [B]; ``y_pred``: logits [B, C] (e.g. from a
    ``lrfr_tf.models.heads`` head, which returns float32 logits).
    """

    def __init__(self, label_smoothing: float = 0.0, name: str = "softmax_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        labels = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        num_classes = tf.shape(y_pred)[-1]
        log_probs = tf.nn.log_softmax(tf.cast(y_pred, tf.float32), axis=-1)
        target = tf.one_hot(labels, num_classes, dtype=tf.float32)
        if self.label_smoothing:
            target = (1.0 - self.label_smoothing) * target + self.label_smoothing / tf.cast(num_classes, tf.float32)
        return -tf.reduce_sum(target * log_probs, axis=-1)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


LOSSES.register("softmax_cross_entropy")(SoftmaxCrossEntropyLoss)
