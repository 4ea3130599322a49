"""Every registered margin head: logits against a NumPy implementation of its paper equation,
finite logits and gradients at theta = 0 and pi, float32 logits under mixed precision, serialisation."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.models import HEADS, create_head
from lrfr_tf.models.heads import SphereFaceHead, sphereface_psi
from model_checks import assert_all_weights_get_gradients, assert_config_roundtrip

NUM_CLASSES, DIM, BATCH = 7, 16, 6
NAMES = HEADS.names()

# Non-default settings so a reference bug cannot hide behind a default.
KWARGS = {
    "softmax": dict(normalize=False),
    "sphereface": dict(margin=4, base=100.0, gamma=0.5, power=1.0, lambda_min=2.0),
    "cosface": dict(scale=30.0, margin=0.4),
    "am_softmax": dict(scale=30.0, margin=0.35),
    "arcface": dict(scale=64.0, margin=0.5),
    "combined": dict(scale=32.0, m1=1.2, m2=0.3, m3=0.15),
}


def make(name, **kwargs):
    head = create_head(name, num_classes=NUM_CLASSES, **{**KWARGS.get(name, {}), **kwargs})
    head(tf.zeros([1, DIM]))
    return head


def np_cos(x, w):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    w = w / np.linalg.norm(w, axis=0, keepdims=True)
    return x @ w


def np_psi(theta, m):
    k = np.minimum(np.floor(m * theta / np.pi), m - 1)
    return (-1.0) ** k * np.cos(m * theta) - 2.0 * k


def np_target(name, head, cos_y, x_norm):
    """f(cos theta_y) of each head's paper equation, float64 (x_norm only for SphereFace)."""
    theta = np.arccos(np.clip(cos_y, -1.0, 1.0))
    if name in ("cosface", "am_softmax"):
        return head.scale * (cos_y - head.margin)
    if name == "arcface":
        m = head.margin
        if head.easy_margin:
            return head.scale * np.where(cos_y > 0, np.cos(theta + m), cos_y)
        return head.scale * np.where(cos_y > np.cos(np.pi - m), np.cos(theta + m), cos_y - np.sin(np.pi - m) * m)
    if name == "combined":
        angle = head.m1 * theta + head.m2
        fallback = cos_y - np.cos((np.pi - head.m2) / head.m1) - 1.0 - head.m3
        return head.scale * np.where(angle <= np.pi, np.cos(angle) - head.m3, fallback)
    if name == "sphereface":
        it = float(head.iteration.numpy())
        lam = max(head.lambda_min, head.base * (1.0 + head.gamma * it) ** (-head.power))
        return x_norm * (lam * cos_y + np_psi(theta, head.margin)) / (1.0 + lam)
    raise KeyError(name)


def np_logits(name, head, x, labels):
    w = head.kernel.numpy().astype(np.float64)
    x = x.astype(np.float64)
    if name == "softmax":
        return head.scale * np_cos(x, w) if head.normalize else x @ w + head.bias.numpy()
    cos = np_cos(x, w)
    x_norm = np.linalg.norm(x, axis=1)
    logits = x_norm[:, None] * cos if name == "sphereface" else head.scale * cos
    if labels is not None:
        rows = np.arange(len(labels))
        logits[rows, labels] = np_target(name, head, cos[rows, labels], x_norm)
    return logits


def test_every_registered_head_has_a_numpy_reference():
    for name in NAMES:
        head = make(name)
        x = np.random.default_rng(0).normal(size=(2, DIM)).astype(np.float32)
        np_logits(name, head, x, np.array([0, 1]))  # raises KeyError for an unknown head


@pytest.mark.parametrize("name", NAMES)
def test_logits_match_numpy(name):
    rng = np.random.default_rng(1)
    head = make(name)
    x = rng.normal(size=(BATCH, DIM)).astype(np.float32) * 3.0
    labels = rng.integers(0, NUM_CLASSES, BATCH)
    out = head(x, labels, training=False).numpy()
    assert out.shape == (BATCH, NUM_CLASSES) and out.dtype == np.float32
    np.testing.assert_allclose(out, np_logits(name, head, x, labels), rtol=2e-5, atol=2e-4)
    np.testing.assert_allclose(head(x).numpy(), np_logits(name, head, x, None), rtol=2e-5, atol=2e-4)


@pytest.mark.parametrize("name", NAMES)
def test_target_logits_over_the_whole_angle_range(name):
    """Embeddings at angles theta in [0, pi] to their class weight: target logits vs NumPy."""
    head = make(name)
    w = head.kernel.numpy()
    w_y = w[:, 0] / np.linalg.norm(w[:, 0])
    ortho = np.random.default_rng(2).normal(size=DIM)
    ortho -= ortho @ w_y * w_y
    ortho /= np.linalg.norm(ortho)
    thetas = np.linspace(0.0, np.pi, 181)
    x = (np.cos(thetas)[:, None] * w_y + np.sin(thetas)[:, None] * ortho).astype(np.float32) * 2.0
    labels = np.zeros(len(thetas), np.int64)
    out = head(x, labels, training=False).numpy()
    expected = np_logits(name, head, x, labels)
    # Clamping cos to [-1 + eps, 1 - eps] moves the target logit by O(sqrt(eps)) at theta = 0, pi.
    np.testing.assert_allclose(out[:, 0], expected[:, 0], rtol=1e-4, atol=2e-3 * max(1.0, getattr(head, "scale", 1.0)))
    if name != "softmax":
        assert np.all(np.diff(out[:, 0]) <= 1e-4), f"{name}: target logit not monotonically decreasing in theta"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["theta0", "theta_pi"])
def test_finite_logits_and_gradients_at_cos_plus_minus_one(name, sign):
    head = make(name)
    w = head.kernel.numpy()
    x = tf.constant(sign * 3.0 * w[:, :2].T / np.linalg.norm(w[:, :2], axis=0)[:, None], tf.float32)
    labels = tf.constant([0, 1])
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = head(x, labels, training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    grads = tape.gradient(loss, [x] + head.trainable_weights)
    assert np.all(np.isfinite(logits.numpy()))
    for g in grads:
        assert np.all(np.isfinite(tf.convert_to_tensor(g).numpy()))


def test_arcface_logits_at_theta_zero_and_pi():
    """theta = 0: s cos(m) (up to the clamp); theta = pi: the fallback s (-1 - m sin(m))."""
    s, m = 64.0, 0.5
    head = make("arcface", scale=s, margin=m)
    w0 = head.kernel.numpy()[:, 0]
    x = np.stack([w0, -w0]).astype(np.float32)
    out = head(x, np.array([0, 0]), training=False).numpy()[:, 0]
    np.testing.assert_allclose(out[0], s * math.cos(m), atol=s * 2e-3)
    np.testing.assert_allclose(out[1], s * (-1.0 - m * math.sin(m)), rtol=1e-5)
    easy = make("arcface", scale=s, margin=m, easy_margin=True)
    easy.kernel.assign(head.kernel)
    out = easy(x, np.array([0, 0]), training=False).numpy()[:, 0]
    np.testing.assert_allclose(out, [s * math.cos(m), -s], atol=s * 2e-3)


def test_combined_margin_reduces_to_cosface_and_arcface():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(BATCH, DIM)).astype(np.float32)
    labels = rng.integers(0, NUM_CLASSES, BATCH)
    for special, kwargs in (("cosface", dict(margin=0.35)), ("arcface", dict(margin=0.5))):
        ref = make(special, scale=30.0, **kwargs)
        m = kwargs["margin"]
        m2, m3 = (0.0, m) if special == "cosface" else (m, 0.0)
        combined = make("combined", scale=30.0, m1=1.0, m2=m2, m3=m3)
        combined.kernel.assign(ref.kernel)
        # Random Gaussian embeddings are far from theta + m > pi, where the two fallbacks differ.
        np.testing.assert_allclose(combined(x, labels).numpy(), ref(x, labels).numpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_sphereface_psi_is_monotonic_on_zero_pi(m):
    theta = np.linspace(0.0, np.pi, 20001)
    psi = sphereface_psi(tf.constant(np.cos(theta), tf.float32), m).numpy()
    np.testing.assert_allclose(psi, np_psi(theta, m), atol=2e-4)
    assert np.all(np.diff(psi) <= 1e-6), "psi must decrease monotonically"
    np.testing.assert_allclose([psi[0], psi[-1]], [1.0, 1.0 - 2.0 * m], atol=1e-4)


def test_sphereface_lambda_annealing():
    head = make("sphereface", margin=4, base=1000.0, gamma=0.12, power=1.0, lambda_min=5.0)
    assert isinstance(head, SphereFaceHead)
    for it in (0, 1, 10, 1000, 10**6):
        head.set_iteration(it)
        np.testing.assert_allclose(head.lambda_value().numpy(), max(5.0, 1000.0 / (1.0 + 0.12 * it)), rtol=1e-6)
    head.set_iteration(0)
    x, labels = tf.random.normal([2, DIM]), tf.constant([0, 1])
    head(x, labels, training=False)
    head(x)
    assert int(head.iteration.numpy()) == 0, "inference or unlabelled calls must not advance lambda"
    head(x, labels, training=True)
    head(x, labels, training=True)
    assert int(head.iteration.numpy()) == 2


@pytest.mark.parametrize("name", NAMES)
def test_mixed_precision_logits_are_float32(name):
    rng = np.random.default_rng(4)
    head = create_head(name, num_classes=NUM_CLASSES, dtype="mixed_float16", **KWARGS.get(name, {}))
    ref = make(name)
    x = rng.normal(size=(BATCH, DIM)).astype(np.float32)
    labels = rng.integers(0, NUM_CLASSES, BATCH)
    out = head(tf.cast(x, tf.float16), labels, training=False)
    assert out.dtype == tf.float32
    ref.set_weights(head.get_weights())
    # The float16 input rounding is the only difference.
    expected = ref(tf.cast(tf.cast(x, tf.float16), tf.float32), labels, training=False).numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_every_weight_gets_a_gradient(name):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(BATCH, DIM)).astype(np.float32)
    assert_all_weights_get_gradients(make(name), (x, rng.integers(0, NUM_CLASSES, BATCH)))


@pytest.mark.parametrize("name", NAMES)
def test_config_roundtrip_and_serialization(name):
    rng = np.random.default_rng(6)
    head = make(name)
    inputs = (rng.normal(size=(BATCH, DIM)).astype(np.float32), rng.integers(0, NUM_CLASSES, BATCH))
    assert_config_roundtrip(head, inputs)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(head))
    assert type(restored) is type(head) and restored.get_config() == head.get_config()


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="num_classes"):
        create_head("arcface", num_classes=0)
    with pytest.raises(ValueError, match="margin"):
        create_head("sphereface", num_classes=3, margin=1.5)
    with pytest.raises(ValueError, match="margin"):
        create_head("arcface", num_classes=3, margin=2.0)


def test_out_of_range_labels_raise():
    head = make("arcface")
    with pytest.raises(tf.errors.InvalidArgumentError, match="label >= num_classes"):
        head(tf.zeros([1, DIM]) + 1.0, tf.constant([NUM_CLASSES]))
