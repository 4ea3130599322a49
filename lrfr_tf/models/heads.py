"""Margin heads: classification logits over L2-normalised class weights.

Every head is a Keras layer ``head(embeddings [B, D], labels=None, training=None)
-> logits [B, C]``. With ``labels`` the margin is applied to the target class;
without labels the plain (scaled) cosine logits are returned. Logits are always
computed and returned in float32 (also under a mixed-precision policy), as the
softmax cross-entropy that follows must be.

Numerical safety: ``cos(theta)`` is clamped to ``[-1 + eps, 1 - eps]`` before
``acos`` / ``sqrt(1 - cos^2)``, so logits and gradients stay finite at
``cos = +-1`` (theta = 0 or pi).

Implemented (target-class logit as a function of theta, the angle between the
embedding and its class weight; s = scale):

  softmax     W^T x + b, or s * cos(theta) with ``normalize=True`` (NormFace)
  sphereface  ||x|| * (lambda * cos(theta) + psi(theta)) / (1 + lambda),
              psi(theta) = (-1)^k cos(m theta) - 2k, theta in [k pi/m, (k+1) pi/m]
              (A-Softmax, Liu et al. 2017, with the lambda annealing of the
              reference Caffe implementation)
  cosface     s * (cos(theta) - m)   (CosFace / LMCL, Wang et al. 2018;
              AM-Softmax, Wang et al. 2018); also registered as ``am_softmax``
  arcface     s * cos(theta + m)     (ArcFace, Deng et al. 2019, eq. 3), with the
              insightface fallback cos(theta) - m sin(m) when theta + m > pi,
              or ``easy_margin`` (no margin where cos(theta) <= 0)
  combined    s * (cos(m1 theta + m2) - m3)   (ArcFace paper, eq. 4)
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from lrfr_tf.models.model_registry import HEADS

_PACKAGE = "lrfr_tf"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SoftmaxHead(keras.layers.Layer):
    """Fully connected softmax logits; ``normalize=True`` gives s * cos(theta).

    Args:
      num_classes: number of identities C.
      normalize: L2-normalise embeddings and class weights (NormFace) and
        scale the cosine by ``scale``; otherwise logits are ``x W + b``.
      scale: s, used only when ``normalize``.
      use_bias: add a bias (only without ``normalize``).
      kernel_initializer: initializer of the [D, C] class weights.
    """

    def __init__(
        self,
        num_classes: int,
        normalize: bool = False,
        scale: float = 30.0,
        use_bias: bool = True,
        kernel_initializer="glorot_normal",
        **kwargs,
    ):
        # No autocasting of inputs or weights: the head always computes in float32.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.normalize = bool(normalize)
        self.scale = float(scale)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim is None:
            raise ValueError(f"{type(self).__name__}: the embedding dimension must be known, got {input_shape}")
        self.kernel = self.add_weight(
            name="kernel",
            shape=(int(dim), self.num_classes),
            initializer=self.kernel_initializer,
            dtype="float32",
            autocast=False,
        )
        if self.use_bias and not self.normalize:
            self.bias = self.add_weight(
                name="bias", shape=(self.num_classes,), initializer="zeros", dtype="float32", autocast=False
            )
        else:
            self.bias = None

    def cosine(self, embeddings):
        """cos(theta_j) = x^T W_j / (||x|| ||W_j||), float32 [B, C]."""
        x = tf.math.l2_normalize(tf.cast(embeddings, tf.float32), axis=-1, epsilon=1e-12)
        w = tf.math.l2_normalize(tf.convert_to_tensor(self.kernel, tf.float32), axis=0, epsilon=1e-12)
        return tf.matmul(x, w)

    def call(self, embeddings, labels=None, training=None):
        if self.normalize:
            return self.scale * self.cosine(embeddings)
        logits = tf.matmul(tf.cast(embeddings, tf.float32), tf.convert_to_tensor(self.kernel, tf.float32))
        if self.bias is not None:
            logits = logits + self.bias
        return logits

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            normalize=self.normalize,
            scale=self.scale,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config


class MarginHead(SoftmaxHead):
    """Base of the margin heads: s * cos(theta_j), target logit replaced by s * f(cos(theta_y)).

    Subclasses implement ``target_logit(cos_y)`` -> f(cos(theta_y)) (float32 [B]).
    """

    def __init__(self, num_classes: int, scale: float = 64.0, eps: float = 1e-6, **kwargs):
        kwargs.pop("normalize", None)
        kwargs.pop("use_bias", None)
        super().__init__(num_classes, normalize=True, scale=scale, use_bias=False, **kwargs)
        if not 0.0 < float(eps) < 0.1:
            raise ValueError(f"eps must be in (0, 0.1), got {eps}")
        self.eps = float(eps)

    def clamp(self, cos):
        """cos clamped to [-1 + eps, 1 - eps]: finite acos / sqrt(1 - cos^2) and their gradients."""
        return tf.clip_by_value(cos, -1.0 + self.eps, 1.0 - self.eps)

    def target_logit(self, cos_y):
        raise NotImplementedError

    def margin_cosine(self, embeddings, labels):
        """[B, C] cosines with the target entry replaced by f(cos(theta_y)) (before scaling)."""
        cos = self.cosine(embeddings)
        labels = tf.cast(labels, tf.int32)
        tf.debugging.assert_less(labels, self.num_classes, message=f"{self.name}: label >= num_classes")
        tf.debugging.assert_non_negative(labels, message=f"{self.name}: negative label")
        one_hot = tf.one_hot(labels, self.num_classes, dtype=tf.float32)
        cos_y = tf.reduce_sum(cos * one_hot, axis=-1)
        return cos + one_hot * tf.expand_dims(self.target_logit(cos_y) - cos_y, -1)

    def call(self, embeddings, labels=None, training=None):
        if labels is None:
            return self.scale * self.cosine(embeddings)
        return self.scale * self.margin_cosine(embeddings, labels)

    def get_config(self):
        config = super().get_config()
        for key in ("normalize", "use_bias"):
            config.pop(key)
        config["eps"] = self.eps
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CosFaceHead(MarginHead):
    """CosFace / AM-Softmax: target logit s * (cos(theta_y) - m) (Wang et al. 2018)."""

    def __init__(self, num_classes: int, scale: float = 64.0, margin: float = 0.35, **kwargs):
        super().__init__(num_classes, scale=scale, **kwargs)
        self.margin = float(margin)

    def target_logit(self, cos_y):
        return cos_y - self.margin

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ArcFaceHead(MarginHead):
    """ArcFace: target logit s * cos(theta_y + m) (Deng et al. 2019, eq. 3).

    cos(theta + m) = cos(theta) cos(m) - sin(theta) sin(m), with sin(theta) from the
    clamped cosine. Where theta + m > pi, i.e. cos(theta) <= cos(pi - m), the target
    logit would stop decreasing with theta; the insightface fallback
    cos(theta) - sin(pi - m) * m (a CosFace-style margin) is used there. With
    ``easy_margin`` the margin is applied only where cos(theta) > 0.
    """

    def __init__(self, num_classes: int, scale: float = 64.0, margin: float = 0.5, easy_margin: bool = False, **kwargs):
        super().__init__(num_classes, scale=scale, **kwargs)
        if not 0.0 <= float(margin) < math.pi / 2:
            raise ValueError(f"ArcFace margin must be in [0, pi/2), got {margin}")
        self.margin = float(margin)
        self.easy_margin = bool(easy_margin)

    def target_logit(self, cos_y):
        m = self.margin
        c = self.clamp(cos_y)
        sin = tf.sqrt(1.0 - c * c)
        phi = c * math.cos(m) - sin * math.sin(m)
        if self.easy_margin:
            return tf.where(cos_y > 0.0, phi, cos_y)
        return tf.where(cos_y > math.cos(math.pi - m), phi, cos_y - math.sin(math.pi - m) * m)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "easy_margin": self.easy_margin}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CombinedMarginHead(MarginHead):
    """Combined margin: target logit s * (cos(m1 theta + m2) - m3) (ArcFace paper, eq. 4).

    (m1, m2, m3) = (1, 0, m) is CosFace, (1, m, 0) ArcFace, (m, 0, 0) a
    multiplicative (SphereFace-like) angular margin. Where m1 theta + m2 > pi
    (theta > theta_max = (pi - m2) / m1) the target logit continues linearly in
    cos(theta), continuously and monotonically: cos(theta) - cos(theta_max) - 1 - m3.
    """

    def __init__(
        self, num_classes: int, scale: float = 64.0, m1: float = 1.0, m2: float = 0.3, m3: float = 0.2, **kwargs
    ):
        super().__init__(num_classes, scale=scale, **kwargs)
        if float(m1) < 1.0 or not 0.0 <= float(m2) < math.pi or float(m3) < 0.0:
            raise ValueError(f"combined margin needs m1 >= 1, 0 <= m2 < pi, m3 >= 0; got {(m1, m2, m3)}")
        self.m1, self.m2, self.m3 = float(m1), float(m2), float(m3)

    def target_logit(self, cos_y):
        theta = tf.acos(self.clamp(cos_y))
        angle = self.m1 * theta + self.m2
        cos_max = math.cos((math.pi - self.m2) / self.m1)
        inside = tf.cos(tf.minimum(angle, math.pi)) - self.m3
        return tf.where(angle <= math.pi, inside, cos_y - cos_max - 1.0 - self.m3)

    def get_config(self):
        return {**super().get_config(), "m1": self.m1, "m2": self.m2, "m3": self.m3}


def chebyshev_cos_m_theta(cos, m: int):
    """cos(m * theta) as the Chebyshev polynomial T_m(cos(theta)) (no acos)."""
    t_prev, t = tf.ones_like(cos), cos
    if m == 0:
        return t_prev
    for _ in range(m - 1):
        t_prev, t = t, 2.0 * cos * t - t_prev
    return t


def sphereface_psi(cos, m: int):
    """psi(theta) = (-1)^k cos(m theta) - 2k, k = floor(m theta / pi) in [0, m-1] (SphereFace, A-Softmax).

    Monotonically decreasing on [0, pi], from 1 to 1 - 2m. k is found by comparing
    cos(theta) with cos(j pi / m), so no acos is needed (and k has no gradient).
    """
    thresholds = tf.constant([math.cos(j * math.pi / m) for j in range(1, m)], tf.float32)
    k = tf.reduce_sum(tf.cast(tf.expand_dims(cos, -1) <= thresholds, tf.float32), axis=-1)
    sign = 1.0 - 2.0 * tf.math.floormod(k, 2.0)
    return sign * chebyshev_cos_m_theta(cos, m) - 2.0 * k


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SphereFaceHead(MarginHead):
    """A-Softmax (SphereFace, Liu et al. 2017): normalised weights, unnormalised features.

    Logits ||x|| cos(theta_j); the target logit is ||x|| (lambda cos(theta_y) +
    psi(theta_y)) / (1 + lambda) with psi from ``sphereface_psi``, and
    lambda annealed as in the reference implementation:
    lambda = max(lambda_min, base * (1 + gamma * iteration)^(-power)).

    ``iteration`` is a non-trainable int64 weight (saved with the head, so a
    resumed run keeps its lambda); it is incremented by every call with
    ``training=True`` and labels, before lambda is computed (as the reference
    Caffe layer does). ``set_iteration`` sets it explicitly.
    """

    def __init__(
        self,
        num_classes: int,
        margin: int = 4,
        base: float = 1000.0,
        gamma: float = 0.12,
        power: float = 1.0,
        lambda_min: float = 5.0,
        **kwargs,
    ):
        kwargs.pop("scale", None)
        super().__init__(num_classes, scale=1.0, **kwargs)
        if int(margin) != margin or int(margin) < 1:
            raise ValueError(f"SphereFace margin must be a positive integer, got {margin}")
        if float(lambda_min) < 0.0 or float(base) < 0.0:
            raise ValueError(f"lambda_min and base must be >= 0, got {lambda_min}, {base}")
        self.margin = int(margin)
        self.base, self.gamma, self.power, self.lambda_min = float(base), float(gamma), float(power), float(lambda_min)

    def build(self, input_shape):
        super().build(input_shape)
        self.iteration = self.add_weight(
            name="iteration",
            shape=(),
            dtype="int64",
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
        )

    def set_iteration(self, iteration: int):
        self.iteration.assign(int(iteration))

    def lambda_value(self):
        it = tf.cast(tf.convert_to_tensor(self.iteration), tf.float32)
        lam = self.base * tf.pow(1.0 + self.gamma * it, -self.power)
        return tf.maximum(tf.cast(self.lambda_min, tf.float32), lam)

    def target_logit(self, cos_y):
        lam = self.lambda_value()
        psi = sphereface_psi(cos_y, self.margin)
        return (lam * cos_y + psi) / (1.0 + lam)

    def call(self, embeddings, labels=None, training=None):
        norm = tf.norm(tf.cast(embeddings, tf.float32), axis=-1, keepdims=True)
        if labels is None:
            return norm * self.cosine(embeddings)
        if training:
            self.iteration.assign_add(1)
        return norm * self.margin_cosine(embeddings, labels)

    def get_config(self):
        config = super().get_config()
        config.pop("scale")
        config.update(
            margin=self.margin, base=self.base, gamma=self.gamma, power=self.power, lambda_min=self.lambda_min
        )
        return config


HEADS.register("softmax")(SoftmaxHead)
HEADS.register("sphereface")(SphereFaceHead)
HEADS.register("cosface")(CosFaceHead)
HEADS.register("am_softmax")(CosFaceHead)
HEADS.register("arcface")(ArcFaceHead)
HEADS.register("combined")(CombinedMarginHead)
