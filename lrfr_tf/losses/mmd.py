"""Multi-kernel maximum mean discrepancy (MK-MMD) between two feature samples.

Gretton et al., "A Kernel Two-Sample Test", JMLR 2012:

  biased (V-statistic, the square of MMD_b):
      MMD_b^2 = 1/m^2 sum_ij k(x_i, x_j) + 1/n^2 sum_ij k(y_i, y_j) - 2/(mn) sum_ij k(x_i, y_j)
  unbiased (Lemma 6):
      MMD_u^2 = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j) - 2/(mn) sum_ij k(x_i, y_j)

with the multi-kernel k(a, b) = sum_u beta_u exp(-||a - b||^2 / (2 sigma_u^2)), the kernel weights beta_u
summing to 1 (Gretton et al., "Optimal kernel choice for large-scale two-sample tests", NIPS 2012; Long et
al., DAN, 2015), here equal: beta_u = 1/U (an unweighted sum would scale MMD^2, and the loss weight, by U). The bandwidths are either given (``sigmas``) or data-driven:
2 sigma_u^2 = mean_{i!=j} ||z_i - z_j||^2 * kernel_mul^(u - num_kernels // 2)
over the pooled sample z = [x; y] (no gradient through the bandwidth).
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import tensorflow as tf

from lrfr_tf.losses.loss_registry import LOSSES

_PACKAGE = "lrfr_tf"
_ESTIMATORS = ("biased", "unbiased")


def pairwise_squared_distances(x, y):
    """||x_i - y_j||^2, float32 [m, n] (clamped at 0)."""
    x2 = tf.reduce_sum(x * x, axis=-1, keepdims=True)
    y2 = tf.reduce_sum(y * y, axis=-1, keepdims=True)
    return tf.maximum(x2 + tf.transpose(y2) - 2.0 * tf.matmul(x, y, transpose_b=True), 0.0)


def kernel_bandwidths(
    sq_dists, sigmas: Optional[Sequence[float]] = None, num_kernels: int = 5, kernel_mul: float = 2.0
):
    """2 sigma_u^2 for every kernel u, float32 [U] (see module docstring)."""
    if sigmas is not None:
        return tf.constant([2.0 * float(s) ** 2 for s in sigmas], tf.float32)
    n = tf.cast(tf.shape(sq_dists)[0], tf.float32)
    mean_sq = tf.reduce_sum(sq_dists) / tf.maximum(n * n - n, 1.0)
    base = tf.stop_gradient(tf.maximum(mean_sq, 1e-12))
    powers = tf.range(num_kernels, dtype=tf.float32) - float(num_kernels // 2)
    return base * tf.pow(float(kernel_mul), powers)


def mk_mmd2(
    x,
    y,
    sigmas: Optional[Sequence[float]] = None,
    num_kernels: int = 5,
    kernel_mul: float = 2.0,
    estimator: str = "biased",
):
    """MMD^2 between samples x [m, ...] and y [n, ...] (flattened per sample); float32 scalar."""
    if estimator not in _ESTIMATORS:
        raise ValueError(f"estimator must be one of {_ESTIMATORS}, got {estimator!r}")
    x = tf.cast(tf.reshape(x, [tf.shape(x)[0], -1]), tf.float32)
    y = tf.cast(tf.reshape(y, [tf.shape(y)[0], -1]), tf.float32)
    m, n = tf.shape(x)[0], tf.shape(y)[0]
    z = tf.concat([x, y], axis=0)
    sq = pairwise_squared_distances(z, z)
    bandwidths = kernel_bandwidths(sq, sigmas, num_kernels, kernel_mul)
    k = tf.reduce_mean(tf.exp(-tf.expand_dims(sq, -1) / bandwidths), axis=-1)  # beta_u = 1/U
    k_xx, k_yy, k_xy = k[:m, :m], k[m:, m:], k[:m, m:]
    mf, nf = tf.cast(m, tf.float32), tf.cast(n, tf.float32)
    cross = 2.0 * tf.reduce_sum(k_xy) / (mf * nf)
    if estimator == "biased":
        return tf.reduce_sum(k_xx) / (mf * mf) + tf.reduce_sum(k_yy) / (nf * nf) - cross
    tf.debugging.assert_greater_equal(tf.minimum(m, n), 2, message="unbiased MMD needs >= 2 samples per set")
    xx = (tf.reduce_sum(k_xx) - tf.linalg.trace(k_xx)) / (mf * (mf - 1.0))
    yy = (tf.reduce_sum(k_yy) - tf.linalg.trace(k_yy)) / (nf * (nf - 1.0))
    return xx + yy - cross


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MultiKernelMMDLoss(keras.losses.Loss):
    """MK-MMD^2 between ``y_true`` (e.g. HR-domain features) and ``y_pred`` (e.g. SR/LR features).

    Returns one scalar per call (a statistic of the two samples, not a per-sample
    loss); batch sizes of the two samples may differ. See ``mk_mmd2``.
    """

    def __init__(
        self,
        sigmas: Optional[Sequence[float]] = None,
        num_kernels: int = 5,
        kernel_mul: float = 2.0,
        estimator: str = "biased",
        name: str = "mk_mmd",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if estimator not in _ESTIMATORS:
            raise ValueError(f"estimator must be one of {_ESTIMATORS}, got {estimator!r}")
        if sigmas is not None and (len(sigmas) == 0 or min(float(s) for s in sigmas) <= 0.0):
            raise ValueError(f"sigmas must be a non-empty list of positive bandwidths, got {sigmas!r}")
        if sigmas is None and (int(num_kernels) < 1 or float(kernel_mul) <= 0.0):
            raise ValueError(f"need num_kernels >= 1 and kernel_mul > 0, got {num_kernels}, {kernel_mul}")
        self.sigmas = None if sigmas is None else [float(s) for s in sigmas]
        self.num_kernels = int(num_kernels)
        self.kernel_mul = float(kernel_mul)
        self.estimator = estimator

    def call(self, y_true, y_pred):
        return mk_mmd2(y_pred, y_true, self.sigmas, self.num_kernels, self.kernel_mul, self.estimator)

    def get_config(self):
        return {
            **super().get_config(),
            "sigmas": self.sigmas,
            "num_kernels": self.num_kernels,
            "kernel_mul": self.kernel_mul,
            "estimator": self.estimator,
        }


LOSSES.register("mk_mmd")(MultiKernelMMDLoss)
