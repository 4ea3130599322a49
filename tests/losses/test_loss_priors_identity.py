"""Landmark heatmap rendering and prior losses; the identity loss's resizing, gradient routing and options."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.losses import create_loss
from lrfr_tf.losses.prior_losses import render_landmark_heatmaps
from lrfr_tf.preprocessing import Preprocessing
from numpy_losses import np_log_softmax


def np_heatmaps(landmarks, height, width, sigma):
    v, u = np.mgrid[0:height, 0:width]
    x, y = landmarks[..., 0], landmarks[..., 1]
    d2 = (u[None, :, :, None] - x[:, None, None, :]) ** 2 + (v[None, :, :, None] - y[:, None, None, :]) ** 2
    return np.exp(-d2 / (2.0 * sigma**2))


def test_heatmaps_match_numpy_and_peak_at_the_landmarks():
    rng = np.random.default_rng(0)
    landmarks = rng.uniform(0, 20, size=(3, 5, 2)).astype(np.float32)
    maps = render_landmark_heatmaps(landmarks, (24, 20), sigma=1.5).numpy()
    assert maps.shape == (3, 24, 20, 5)
    np.testing.assert_allclose(maps, np_heatmaps(landmarks, 24, 20, 1.5), atol=1e-6)
    integer = np.array([[[3, 4], [10, 2], [0, 0], [19, 23], [7, 7]]], np.float32)
    maps = render_landmark_heatmaps(integer[0], (24, 20), sigma=2.0).numpy()  # unbatched
    for l, (x, y) in enumerate(integer[0].astype(int)):
        assert maps[y, x, l] == 1.0 and np.unravel_index(np.argmax(maps[..., l]), (24, 20)) == (y, x)


def test_heatmaps_map_image_coordinates_to_the_heatmap_grid():
    """A landmark at image pixel (x, y) of a 112x112 face lands at ((x + 0.5) / 2 - 0.5, ...) on a 56x56 map."""
    landmarks = np.array([[[38.5, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]]], np.float32)
    maps = render_landmark_heatmaps(landmarks, (56, 56), sigma=1.0, image_size=(112, 112)).numpy()
    np.testing.assert_allclose(maps, np_heatmaps((landmarks + 0.5) / 2.0 - 0.5, 56, 56, 1.0), atol=1e-6)
    with pytest.raises(ValueError, match="landmarks must be"):
        render_landmark_heatmaps(np.zeros((2, 5, 3)), (8, 8))
    with pytest.raises(ValueError, match="sigma"):
        render_landmark_heatmaps(np.zeros((5, 2)), (8, 8), sigma=0.0)


def test_parsing_ce_accepts_class_maps_and_probabilities():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 4, 4, 6)).astype(np.float32)
    labels = rng.integers(0, 6, size=(2, 4, 4))
    loss = create_loss("parsing_ce")
    by_label = loss.call(labels, logits).numpy()
    by_prob = loss.call(np.eye(6, dtype=np.float32)[labels], logits).numpy()
    np.testing.assert_allclose(by_label, by_prob, rtol=1e-6)
    soft = rng.dirichlet(np.ones(6), size=(2, 4, 4)).astype(np.float32)
    expected = -np.mean(np.sum(soft * np_log_softmax(logits), axis=-1), axis=(1, 2))
    np.testing.assert_allclose(loss.call(soft, logits).numpy(), expected, rtol=1e-5)


class LinearRecognizer(keras.Model):
    def __init__(self, size=8, dim=6, **kwargs):
        super().__init__(**kwargs)
        self.preprocessing = Preprocessing(size=(size, size))
        self.flatten, self.dense = keras.layers.Flatten(), keras.layers.Dense(dim)

    def call(self, x, training=None):
        return self.dense(self.flatten(x))


def test_identity_loss_resizes_to_the_recognizer_input_and_routes_gradients_to_sr_only():
    net = LinearRecognizer()
    loss = create_loss("identity", recognizer=net)  # preprocessing taken from the recognizer
    rng = np.random.default_rng(2)
    hr = tf.constant(rng.uniform(0, 255, (3, 16, 16, 3)).astype(np.float32))
    sr = tf.constant(rng.uniform(0, 255, (3, 16, 16, 3)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([hr, sr])
        value = loss(hr, sr)
    resized = [tf.image.resize(t, (8, 8), method="bicubic") for t in (sr, hr)]
    emb = [net(net.preprocessing.normalize(t)).numpy().astype(np.float64) for t in resized]
    cos = np.sum(emb[0] * emb[1], -1) / np.linalg.norm(emb[0], axis=-1) / np.linalg.norm(emb[1], axis=-1)
    np.testing.assert_allclose(float(value), np.mean(1.0 - cos), rtol=1e-5)
    assert tape.gradient(value, hr) is None and tape.gradient(value, sr) is not None
    l2 = create_loss("identity", recognizer=net, distance="l2")
    np.testing.assert_allclose(float(l2(hr, sr)), np.mean((emb[0] - emb[1]) ** 2), rtol=1e-5)
    unit = [e / np.linalg.norm(e, axis=-1, keepdims=True) for e in emb]
    mse = create_loss("identity", recognizer=net, distance="normalized_mse")
    np.testing.assert_allclose(float(mse(hr, sr)), np.mean((unit[0] - unit[1]) ** 2), rtol=1e-5)
    np.testing.assert_allclose(float(mse(hr, sr)), np.mean((2.0 - 2.0 * cos) / emb[0].shape[-1]), rtol=1e-5)


def test_identity_loss_needs_a_preprocessing():
    plain = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(4)])
    with pytest.raises(ValueError, match="Preprocessing"):
        create_loss("identity", recognizer=plain)
    with pytest.raises(ValueError, match="distance"):
        create_loss("identity", recognizer=LinearRecognizer(), distance="l3")
