"""Every registered loss against a NumPy implementation of its paper equation, with edge cases
(identical inputs give zero), finite gradients, float16 inputs and config round trips."""

import dataclasses
from typing import Callable, Optional

import keras
import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.losses import LOSSES, create_loss
from lrfr_tf.preprocessing import Preprocessing
from numpy_losses import np_cosine_distance, np_log_softmax, np_logexp, np_mmd2

B, D = 6, 16
RECOGNIZER_PRE = Preprocessing(size=(8, 8), mean=127.5, scale=1.0 / 128.0)


def recognizer(seed=0):
    """A linear 'face recognizer' (flatten -> dense), so its embedding has a NumPy twin."""
    model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(D)])
    model.build((None, 8, 8, 3))
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=(192, D)).astype(np.float32) * 0.1, rng.normal(size=D).astype(np.float32)])
    return model


def np_recognizer(model, images):
    w, b = model.get_weights()
    return RECOGNIZER_PRE.normalize_numpy(images).reshape(len(images), -1).astype(np.float64) @ w + b


# ---------------------------------------------------------------------------------------------------------
# One case per registered loss: how to build it, example inputs, how to evaluate it and its NumPy value.


@dataclasses.dataclass
class Case:
    make: Callable[[], object]
    inputs: Callable[[np.random.Generator], tuple]
    numpy: Callable[[object, tuple], float]
    evaluate: Callable[[object, tuple], tf.Tensor] = lambda loss, args: loss(*args)
    identical: Optional[Callable[[np.random.Generator], tuple]] = None  # inputs giving exactly zero
    float_args: tuple = (0, 1)  # positions of float inputs (gradients, float16)


def _pair(rng, shape=(B, D), scale=1.0):
    return (rng.normal(size=shape) * scale).astype(np.float32), (rng.normal(size=shape) * scale).astype(np.float32)


def _same(rng, shape=(B, D)):
    a = rng.normal(size=shape).astype(np.float32)
    return a, a.copy()


def _blocks(rng, scale=1.0):
    shapes = [(B, 4, 4, 8), (B, 2, 2, 16), (B, D)]
    return [(rng.normal(size=s) * scale).astype(np.float32) for s in shapes]


def _distill_eval(loss, args):
    out = loss(*args)
    return out["student"] + out["assistant"]


def _distill_numpy(loss, args):
    teacher, student, assistant = args
    student_loss = np.mean((student[-1].astype(np.float64) - teacher[-1]) ** 2)
    assistant_loss = sum(np.mean((a.astype(np.float64) - (t - s)) ** 2) for t, s, a in zip(teacher, student, assistant))
    return student_loss + assistant_loss


CASES = {
    "cosine_distance": Case(
        make=lambda: create_loss("cosine_distance"),
        inputs=_pair,
        numpy=lambda loss, a: np.mean(np_cosine_distance(*a)),
        identical=_same,
    ),
    "logexp": Case(
        make=lambda: create_loss("logexp", p=1.5, normalization="p_dim"),
        inputs=_pair,
        numpy=lambda loss, a: np.mean(np_logexp(a[0], a[1], 1.5)),
        identical=_same,
    ),
    "mk_mmd": Case(
        make=lambda: create_loss("mk_mmd", estimator="biased"),
        inputs=lambda rng: (rng.normal(size=(5, D)).astype(np.float32),
                            rng.normal(0.5, 1.0, size=(7, D)).astype(np.float32)),
        numpy=lambda loss, a: np_mmd2(a[1], a[0]),
        identical=_same,
    ),
    "residual_distillation": Case(
        make=lambda: create_loss("residual_distillation"),
        inputs=lambda rng: (_blocks(rng), _blocks(rng), _blocks(rng, 0.3)),
        numpy=_distill_numpy,
        evaluate=_distill_eval,
        identical=lambda rng: (lambda t: (t, [b.copy() for b in t], [np.zeros_like(b) for b in t]))(_blocks(rng)),
        float_args=(1, 2),
    ),
    "pixel": Case(
        make=lambda: create_loss("pixel", norm="l2"),
        inputs=lambda rng: _pair(rng, (B, 8, 8, 3), 60.0),
        numpy=lambda loss, a: np.mean(((a[1].astype(np.float64) - a[0]) / 255.0) ** 2),
        identical=lambda rng: _same(rng, (B, 8, 8, 3)),
    ),
    "identity": Case(
        make=lambda: create_loss("identity", recognizer=recognizer(), preprocessing=RECOGNIZER_PRE),
        inputs=lambda rng: tuple(rng.uniform(0, 255, size=(B, 8, 8, 3)).astype(np.float32) for _ in range(2)),
        numpy=lambda loss, a: np.mean(np_cosine_distance(np_recognizer(loss.recognizer, a[0]),
                                                         np_recognizer(loss.recognizer, a[1]))),
        identical=lambda rng: (lambda im: (im, im.copy()))(rng.uniform(0, 255, size=(B, 8, 8, 3)).astype(np.float32)),
    ),
    "heatmap_mse": Case(
        make=lambda: create_loss("heatmap_mse"),
        inputs=lambda rng: tuple(rng.uniform(0, 1, size=(B, 8, 8, 5)).astype(np.float32) for _ in range(2)),
        numpy=lambda loss, a: np.mean((a[1].astype(np.float64) - a[0]) ** 2),
        identical=lambda rng: _same(rng, (B, 8, 8, 5)),
    ),
    "parsing_ce": Case(
        make=lambda: create_loss("parsing_ce"),
        inputs=lambda rng: (rng.integers(0, 6, size=(B, 8, 8)), rng.normal(size=(B, 8, 8, 6)).astype(np.float32) * 2),
        numpy=lambda loss, a: -np.mean(np.take_along_axis(np_log_softmax(a[1]), a[0][..., None], -1)),
        float_args=(1,),
    ),
    "softmax_cross_entropy": Case(
        make=lambda: create_loss("softmax_cross_entropy", label_smoothing=0.1),
        inputs=lambda rng: (rng.integers(0, 10, size=B), rng.normal(size=(B, 10)).astype(np.float32) * 5),
        numpy=lambda loss, a: -np.mean(np.sum((0.9 * np.eye(10)[a[0]] + 0.01) * np_log_softmax(a[1]), axis=-1)),
        float_args=(1,),
    ),
}
NAMES = LOSSES.names()
IDENTICAL = [n for n in NAMES if n in CASES and CASES[n].identical is not None]


def as_tensors(args):
    return tuple(tf.nest.map_structure(tf.convert_to_tensor, a) for a in args)


def test_every_registered_loss_has_a_numpy_reference():
    assert set(NAMES) == set(CASES), f"add a Case for {set(NAMES) - set(CASES)} (or drop {set(CASES) - set(NAMES)})"


@pytest.mark.parametrize("name", NAMES)
def test_loss_matches_numpy(name):
    case = CASES[name]
    loss = case.make()
    for seed in range(3):
        args = case.inputs(np.random.default_rng(seed))
        value = case.evaluate(loss, args)
        assert value.shape == () and value.dtype == tf.float32
        np.testing.assert_allclose(float(value), case.numpy(loss, args), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", IDENTICAL)
def test_identical_inputs_give_zero(name):
    case = CASES[name]
    value = case.evaluate(case.make(), case.identical(np.random.default_rng(7)))
    np.testing.assert_allclose(float(value), 0.0, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_are_finite(name):
    case = CASES[name]
    loss = case.make()
    rng = np.random.default_rng(8)
    for args in filter(None, (case.inputs(rng), case.identical(rng) if case.identical else None)):
        args = list(as_tensors(args))
        watched = tf.nest.flatten([args[i] for i in case.float_args])
        with tf.GradientTape() as tape:
            tape.watch(watched)
            value = case.evaluate(loss, args)
        grads = tape.gradient(value, watched)
        assert any(g is not None for g in grads), "no gradient reaches the inputs"
        for g in grads:
            assert g is None or np.all(np.isfinite(g.numpy()))


@pytest.mark.parametrize("name", NAMES)
def test_float16_inputs_give_float32_losses(name):
    """The engine calls losses on mixed-precision (float16) outputs."""
    case = CASES[name]
    loss = case.make()
    args = case.inputs(np.random.default_rng(9))
    half = list(args)
    for i in case.float_args:
        half[i] = tf.nest.map_structure(lambda a: tf.cast(a, tf.float16), args[i])
    value = case.evaluate(loss, half)
    assert value.dtype == tf.float32
    np.testing.assert_allclose(float(value), float(case.evaluate(loss, args)), rtol=2e-2, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_config_roundtrip(name):
    case = CASES[name]
    loss = case.make()
    clone = type(loss).from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    if hasattr(loss, "recognizer"):  # a config holds the recognizer's architecture, not its weights
        clone.recognizer.set_weights(loss.recognizer.get_weights())
    args = case.inputs(np.random.default_rng(10))
    np.testing.assert_allclose(float(case.evaluate(clone, args)), float(case.evaluate(loss, args)), rtol=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is type(loss)


def test_per_example_values():
    """Keras losses give per-example values from .call (the engine averages them over the global batch)."""
    rng = np.random.default_rng(11)
    x, y = _pair(rng)
    np.testing.assert_allclose(create_loss("cosine_distance").call(x, y).numpy(), np_cosine_distance(x, y),
                               rtol=1e-5, atol=1e-6)
    for p, norm in [(1.0, "none"), (2.0, "dim"), (3.0, "p"), (0.5, "p_dim")]:
        np.testing.assert_allclose(create_loss("logexp", p=p, normalization=norm).call(x, y).numpy(),
                                   np_logexp(x, y, p, norm), rtol=2e-5)
    sr, hr = _pair(rng, (B, 4, 4, 3), 50.0)
    np.testing.assert_allclose(create_loss("pixel", norm="l1").call(hr, sr).numpy(),
                               np.mean(np.abs(sr.astype(np.float64) - hr) / 255.0, axis=(1, 2, 3)), rtol=1e-5)
