"""LogExp: analytic gradient (NumPy derivation vs tf.GradientTape), overflow guard, branch continuity.
MK-MMD: biased / unbiased, given / data-driven bandwidths, unequal sample sizes against NumPy."""

import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.losses import create_loss
from lrfr_tf.losses.distance import logexp_distance
from lrfr_tf.losses.mmd import mk_mmd2
from numpy_losses import np_logexp, np_logexp_grad_wrt_y, np_mmd2


def tape_grad(x, y, p, normalization):
    y = tf.constant(y)
    with tf.GradientTape() as tape:
        tape.watch(y)
        value = tf.reduce_sum(logexp_distance(tf.constant(x), y, p, normalization))
    return tape.gradient(value, y).numpy()


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("normalization", ["p_dim", "dim", "p", "none"])
def test_logexp_gradient_matches_numpy_derivation(p, normalization):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 32)).astype(np.float32)
    y = (x + rng.normal(size=(4, 32)) * 0.7).astype(np.float32)
    np.testing.assert_allclose(tape_grad(x, y, p, normalization), np_logexp_grad_wrt_y(x, y, p, normalization),
                               rtol=1e-4, atol=1e-7)


def test_logexp_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 8))
    y = x + rng.normal(size=(1, 8)) * 0.5
    eps = 1e-6
    numeric = np.array([(np_logexp(x, y + eps * e, 2.0) - np_logexp(x, y - eps * e, 2.0))[0] / (2 * eps)
                        for e in np.eye(8)])
    np.testing.assert_allclose(np_logexp_grad_wrt_y(x, y, 2.0)[0], numeric, rtol=1e-6)


@pytest.mark.parametrize("scale", [5.0, 12.0, 1e3, 1e8])
def test_logexp_large_differences_do_not_overflow(scale):
    """|x - y|^p far above log(float32 max) ~ 88: value and gradient stay finite and exact."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 16)).astype(np.float32)
    y = (x + rng.normal(size=(3, 16)) * scale).astype(np.float32)
    value = logexp_distance(x, y, 2.0, "p_dim").numpy()
    assert np.all(np.isfinite(value))
    np.testing.assert_allclose(value, np_logexp(x, y, 2.0), rtol=1e-5)
    grad = tape_grad(x, y, 2.0, "p_dim")
    assert np.all(np.isfinite(grad))
    expected = np_logexp_grad_wrt_y(x, y, 2.0)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())


def test_logexp_is_continuous_across_the_overflow_guard():
    """The direct (log1p) and max-shifted evaluations meet at max |x - y|^p = 30."""
    d = np.sqrt(np.array([29.99, 29.9999, 30.0, 30.0001, 30.01], np.float64))
    x = np.zeros((5, 4), np.float32)
    y = np.stack([np.array([v, 0.3, -0.2, 1.0]) for v in d]).astype(np.float32)
    np.testing.assert_allclose(logexp_distance(x, y, 2.0, "none").numpy(), np_logexp(x, y, 2.0, "none"), rtol=1e-6)


def test_logexp_small_differences_keep_relative_precision():
    """log(1 + S) ~ S = sum |d|^p for tiny errors: log1p/expm1 keep full relative precision."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 64)).astype(np.float32)
    y = (x + rng.normal(size=(2, 64)).astype(np.float32) * 1e-3).astype(np.float32)
    np.testing.assert_allclose(logexp_distance(x, y, 2.0).numpy(), np_logexp(x, y, 2.0), rtol=1e-4)


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0])
def test_logexp_zero_and_zero_gradient_for_identical_inputs(p):
    x = np.random.default_rng(4).normal(size=(2, 8)).astype(np.float32)
    assert np.all(logexp_distance(x, x, p).numpy() == 0.0)
    np.testing.assert_array_equal(tape_grad(x, x, p, "p_dim"), 0.0)


def test_logexp_options():
    x, y = np.ones((1, 4), np.float32), np.zeros((1, 4), np.float32)
    # log(1 + 4 (e - 1)) for every p, divided by p*D, D, p or 1.
    base = np.log(1.0 + 4.0 * (np.e - 1.0))
    for norm, z in [("p_dim", 3.0 * 4), ("dim", 4.0), ("p", 3.0), ("none", 1.0)]:
        np.testing.assert_allclose(logexp_distance(x, y, 3.0, norm).numpy(), [base / z], rtol=1e-6)
    loss = create_loss("logexp", p=2.0, l2_normalize=True)
    a = np.random.default_rng(5).normal(size=(3, 8)).astype(np.float32)
    np.testing.assert_allclose(float(loss(a, 10.0 * a)), 0.0, atol=1e-7)  # same direction after L2-normalising
    with pytest.raises(ValueError, match="normalization"):
        create_loss("logexp", normalization="batch")
    with pytest.raises(ValueError, match="p must be"):
        create_loss("logexp", p=0.0)


def test_logexp_detach_target_stops_the_teacher_gradient():
    x, y = tf.constant([[1.0, 2.0]]), tf.constant([[0.0, 0.5]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, y])
        detached = create_loss("logexp", detach_target=True)(x, y)
        both = create_loss("logexp")(x, y)
    assert tape.gradient(detached, x) is None and tape.gradient(detached, y) is not None
    assert tape.gradient(both, x) is not None


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
@pytest.mark.parametrize("sigmas", [None, (0.5, 2.0, 8.0)])
@pytest.mark.parametrize("sizes", [(8, 8), (5, 11)])
def test_mmd_matches_numpy(estimator, sigmas, sizes):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(sizes[0], 4, 3)).astype(np.float32)  # feature maps are flattened per sample
    y = rng.normal(0.3, 1.5, size=(sizes[1], 4, 3)).astype(np.float32)
    got = mk_mmd2(x, y, sigmas=sigmas, num_kernels=4, kernel_mul=3.0, estimator=estimator).numpy()
    np.testing.assert_allclose(got, np_mmd2(x, y, sigmas, 4, 3.0, estimator), rtol=1e-5, atol=1e-6)


def test_mmd_separates_distributions():
    rng = np.random.default_rng(7)
    same = [mk_mmd2(rng.normal(size=(64, 8)), rng.normal(size=(64, 8)), estimator="unbiased").numpy() for _ in range(5)]
    shifted = mk_mmd2(rng.normal(size=(64, 8)), rng.normal(1.0, 1.0, size=(64, 8)), estimator="unbiased").numpy()
    assert abs(np.mean(same)) < 0.05 < shifted  # the unbiased estimate is ~0 for equal distributions


def test_mmd_identical_samples_and_arguments():
    x = np.random.default_rng(8).normal(size=(6, 5)).astype(np.float32)
    np.testing.assert_allclose(mk_mmd2(x, x, estimator="biased").numpy(), 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="estimator"):
        create_loss("mk_mmd", estimator="linear")
    with pytest.raises(ValueError, match="sigmas"):
        create_loss("mk_mmd", sigmas=[1.0, -1.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="2 samples"):
        mk_mmd2(x[:1], x, estimator="unbiased")


def test_mmd_kernel_weights_sum_to_one():
    """Duplicating a kernel leaves MK-MMD unchanged (weights 1/U); an unweighted sum would double it."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 4)), rng.normal(0.5, 1.0, size=(16, 4))
    one = mk_mmd2(x, y, sigmas=[1.5]).numpy()
    assert one > 0.01
    np.testing.assert_allclose(mk_mmd2(x, y, sigmas=[1.5, 1.5, 1.5]).numpy(), one, rtol=1e-6)
