"""Feature distances between HR and LR embeddings of the same face.

Each loss is a Keras ``Loss`` called as ``loss(y_true=hr_embeddings,
y_pred=lr_embeddings)``; the per-sample distances are averaged over the batch
(``sample_weight`` supported). ``detach_target=True`` stops the gradient through
``y_true`` (a frozen teacher / HR branch); by default both branches get gradients,
as in Siamese training.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from lrfr_tf.losses.loss_registry import LOSSES

_PACKAGE = "lrfr_tf"

#: LogExp: above this exponent the log-sum is evaluated in max-shifted form (exp(30) ~ 1e13 is safe in float32).
_EXP_LIMIT = 30.0

_LOGEXP_NORMALIZATIONS = ("p_dim", "dim", "p", "none")


def cosine_distance(x, y):
    """d(x, y) = 1 - x^T y / (||x|| ||y||), per row (Knoche et al. 2021, eq. 6). float32 [...]."""
    x = tf.math.l2_normalize(tf.cast(x, tf.float32), axis=-1, epsilon=1e-12)
    y = tf.math.l2_normalize(tf.cast(y, tf.float32), axis=-1, epsilon=1e-12)
    return 1.0 - tf.reduce_sum(x * y, axis=-1)


def _abs_pow(diff, p: float):
    """|diff|^p with a zero (sub)gradient at diff = 0 for every p > 0."""
    d = tf.abs(diff)
    nonzero = d > 0.0
    safe = tf.where(nonzero, d, tf.ones_like(d))
    return tf.where(nonzero, tf.pow(safe, p), tf.zeros_like(d))


def logexp_distance(x, y, p: float = 2.0, normalization: str = "p_dim"):
    """LogExp feature contrast, per row:

        L(x, y) = log(1 + sum_i (exp(|x_i - y_i|^p) - 1)) / Z,
        Z = p * D ("p_dim"), D ("dim"), p ("p") or 1 ("none"), D = feature dimension.

    Small errors are penalised like sum_i |x_i - y_i|^p (log(1 + u) ~ u); large
    errors grow like max_i |x_i - y_i|^p, so dimensions with large errors dominate.
    Evaluated without overflow: log1p(sum expm1(a_i)) while max a_i <= 30, else in
    max-shifted form M + log(exp(-M) + sum_i exp(a_i - M) (1 - exp(-a_i))),
    a_i = |x_i - y_i|^p, M = max_i a_i; both branches have finite gradients.
    """
    if normalization not in _LOGEXP_NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {_LOGEXP_NORMALIZATIONS}, got {normalization!r}")
    if not float(p) > 0.0:
        raise ValueError(f"p must be > 0, got {p}")
    x = tf.cast(x, tf.float32)
    y = tf.cast(y, tf.float32)
    a = tf.minimum(_abs_pow(x - y, float(p)), 1e30)  # |x - y|^p itself finite
    a_max = tf.reduce_max(a, axis=-1, keepdims=True)
    direct = tf.math.log1p(tf.reduce_sum(tf.math.expm1(tf.minimum(a, _EXP_LIMIT)), axis=-1))
    shifted = tf.squeeze(a_max, -1) + tf.math.log(
        tf.exp(-tf.squeeze(a_max, -1)) + tf.reduce_sum(tf.exp(a - a_max) * -tf.math.expm1(-a), axis=-1)
    )
    value = tf.where(tf.squeeze(a_max, -1) <= _EXP_LIMIT, direct, shifted)
    dim = tf.cast(tf.shape(a)[-1], tf.float32)
    z = {"p_dim": float(p) * dim, "dim": dim, "p": tf.constant(float(p)), "none": tf.constant(1.0)}[normalization]
    return value / z


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CosineDistanceLoss(keras.losses.Loss):
    """Mean cosine distance 1 - cos(f(HR), f(LR)) (Knoche et al. 2021, eq. 6; weight 25 in ST)."""

    def __init__(self, detach_target: bool = False, name: str = "cosine_distance", **kwargs):
        super().__init__(name=name, **kwargs)
        self.detach_target = bool(detach_target)

    def call(self, y_true, y_pred):
        y_true, y_pred = tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)
        if self.detach_target:
            y_true = tf.stop_gradient(y_true)
        return cosine_distance(y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "detach_target": self.detach_target}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LogExpLoss(keras.losses.Loss):
    """Mean LogExp feature contrast ``logexp_distance`` between HR and LR embeddings.

    Args:
      p: exponent of the per-dimension error |x_i - y_i|^p.
      normalization: divisor Z: "p_dim" (p * D, default), "dim", "p" or "none".
      l2_normalize: L2-normalise both embeddings first (bounds |x_i - y_i| by 2).
      detach_target: stop the gradient through ``y_true``.
    """

    def __init__(
        self,
        p: float = 2.0,
        normalization: str = "p_dim",
        l2_normalize: bool = False,
        detach_target: bool = False,
        name: str = "logexp",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if normalization not in _LOGEXP_NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {_LOGEXP_NORMALIZATIONS}, got {normalization!r}")
        if not float(p) > 0.0:
            raise ValueError(f"p must be > 0, got {p}")
        self.p = float(p)
        self.normalization = normalization
        self.l2_normalize = bool(l2_normalize)
        self.detach_target = bool(detach_target)

    def call(self, y_true, y_pred):
        y_true, y_pred = tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)
        if self.detach_target:
            y_true = tf.stop_gradient(y_true)
        if self.l2_normalize:
            y_true = tf.math.l2_normalize(y_true, axis=-1, epsilon=1e-12)
            y_pred = tf.math.l2_normalize(y_pred, axis=-1, epsilon=1e-12)
        return logexp_distance(y_true, y_pred, self.p, self.normalization)

    def get_config(self):
        return {
            **super().get_config(),
            "p": self.p,
            "normalization": self.normalization,
            "l2_normalize": self.l2_normalize,
            "detach_target": self.detach_target,
        }


LOSSES.register("cosine_distance")(CosineDistanceLoss)
LOSSES.register("logexp")(LogExpLoss)
