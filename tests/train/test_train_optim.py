"""Schedules against their formulas; optimizer construction (weight decay, clipping, loss scaling); coupled and
decoupled weight decay against their update formulas."""

import math

import keras
import numpy as np
import pytest

from lrfr_tf.train.defaults import optimizer
from lrfr_tf.train.optim import StageSchedule, create_optimizer


def _values(schedule, steps):
    return np.array([float(schedule(s)) for s in steps])


def test_piecewise_divides_at_fractions():
    s = StageSchedule(0.1, 180, "piecewise", boundaries=[100 / 180, 160 / 180], factor=0.1)
    got = _values(s, [0, 99, 100, 159, 160, 179])
    np.testing.assert_allclose(got, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)


def test_cosine_and_linear_with_warmup():
    steps, warm = 100, 10
    cos = StageSchedule(1.0, steps, "cosine", warmup_steps=warm, final_fraction=0.1)
    lin = StageSchedule(1.0, steps, "linear", warmup_steps=warm)
    for t in [0, 5, 9, 10, 50, 99]:
        w = min(1.0, (t + 1) / warm)
        u = min(max((t - warm) / (steps - warm), 0.0), 1.0)
        assert float(cos(t)) == pytest.approx(w * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * u))), rel=1e-5)
        assert float(lin(t)) == pytest.approx(w * (1 - u), rel=1e-5, abs=1e-7)


def test_schedule_validation_and_serialisation():
    with pytest.raises(ValueError, match="fractions"):
        StageSchedule(0.1, 10, "piecewise", boundaries=[5])
    with pytest.raises(ValueError, match="unknown schedule"):
        StageSchedule(0.1, 10, "exp")
    s = StageSchedule(0.1, 10, "piecewise", boundaries=[0.5])
    assert StageSchedule.from_config(s.get_config()).get_config() == s.get_config()


@pytest.mark.parametrize("name, cls", [("sgd", keras.optimizers.SGD), ("adam", keras.optimizers.Adam),
                                       ("adamw", keras.optimizers.AdamW), ("rmsprop", keras.optimizers.RMSprop)])
def test_optimizers(name, cls):
    wd = 0.0 if name == "adam" else 5e-4
    opt = create_optimizer(optimizer(name, lr=0.1, weight_decay=wd, clipnorm=1.0), steps=10)
    assert isinstance(opt, cls) and opt.global_clipnorm == 1.0
    wrapped = create_optimizer(optimizer(name, lr=0.1, weight_decay=wd), steps=10, precision="mixed_float16")
    assert isinstance(wrapped, keras.optimizers.LossScaleOptimizer) and isinstance(wrapped.inner_optimizer, cls)


@pytest.mark.parametrize("mode", ["decoupled", "coupled"])
def test_sgd_weight_decay_skips_norm_and_bias(mode):
    kernel, bias = keras.Variable(np.ones(3, np.float32), name="kernel"), keras.Variable(np.ones(3, np.float32), name="bias")
    opt = create_optimizer(optimizer("sgd", lr=0.1, momentum=0.0, weight_decay=0.5, weight_decay_mode=mode), steps=10)
    opt.apply_gradients([(np.zeros(3, np.float32), kernel), (np.zeros(3, np.float32), bias)])
    np.testing.assert_allclose(kernel.numpy(), 1 - 0.1 * 0.5)  # without momentum both are w -= lr * wd * w
    np.testing.assert_allclose(bias.numpy(), 1.0)
    with pytest.raises(ValueError, match="adamw"):
        create_optimizer(optimizer("adam", lr=0.1, weight_decay=0.1), steps=10)


W0 = np.array([1.0, -2.0, 0.5], np.float32)
GRADS = [np.array([0.3, -0.1, 0.2], np.float32), np.array([-0.2, 0.4, 0.1], np.float32),
         np.array([0.05, 0.05, -0.3], np.float32)]


def _sgd_steps(mode, lr=0.1, mu=0.9, wd=0.05):
    w = keras.Variable(W0.copy(), name="kernel")
    opt = create_optimizer(optimizer("sgd", lr=lr, momentum=mu, weight_decay=wd, weight_decay_mode=mode), steps=10)
    for g in GRADS:
        opt.apply_gradients([(g, w)])
    return w.numpy()


def _numpy_sgd(lr=0.1, mu=0.9, wd=0.05, coupled=True):
    """SGD with momentum (Keras form: v = mu v - lr g, w += v; PyTorch's b = mu b + g, w -= lr b at constant lr).
    Coupled: g + wd * w enters the momentum. Decoupled: w -= lr * wd * w before the momentum step."""
    w, v = W0.astype(np.float64), np.zeros(3)
    for g in GRADS:
        if coupled:
            g = g + wd * w
        else:
            w = w - lr * wd * w
        v = mu * v - lr * g
        w = w + v
    return w


def test_coupled_weight_decay_enters_the_momentum_as_the_papers_l2():
    """The papers' L2 decay: lambda * w added to the gradient before the momentum update (the gradient of
    lambda/2 |w|^2); Keras's decoupled decay at the same lambda is a different (weaker) update."""
    coupled, decoupled = _sgd_steps("coupled"), _sgd_steps("decoupled")
    np.testing.assert_allclose(coupled, _numpy_sgd(coupled=True), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(decoupled, _numpy_sgd(coupled=False), rtol=1e-6, atol=1e-7)
    assert np.max(np.abs(coupled - decoupled)) > 1e-3
    # Coupled decay equals adding lambda/2 |w|^2 to the loss: the same steps with the penalty's gradient by hand.
    w = keras.Variable(W0.copy(), name="kernel")
    plain = create_optimizer(optimizer("sgd", lr=0.1, momentum=0.9), steps=10)
    for g in GRADS:
        plain.apply_gradients([(g + 0.05 * w.numpy(), w)])
    np.testing.assert_allclose(coupled, w.numpy(), rtol=1e-6, atol=1e-7)


def test_coupled_weight_decay_under_the_schedule_clipping_and_loss_scaling():
    """The decay is added after clipping and to the unscaled gradient; rmsprop and adam take it as an L2 term."""
    w = keras.Variable(W0.copy(), name="kernel")
    opt = create_optimizer(optimizer("sgd", lr=0.1, momentum=0.9, weight_decay=0.05, weight_decay_mode="coupled",
                                     clipnorm=0.1), steps=10, precision="mixed_float16")
    expected, v = W0.astype(np.float64), np.zeros(3)
    for g in GRADS:
        opt.apply_gradients([(opt.scale_loss(keras.ops.convert_to_tensor(g)), w)])
        clipped = g * min(1.0, 0.1 / np.linalg.norm(g))
        v = 0.9 * v - 0.1 * (clipped + 0.05 * expected)
        expected = expected + v
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-5, atol=1e-6)
    for name in ("adam", "rmsprop"):
        w = keras.Variable(W0.copy(), name="kernel")
        opt = create_optimizer(optimizer(name, lr=0.1, weight_decay=0.5, weight_decay_mode="coupled"), steps=10)
        opt.apply_gradients([(np.zeros(3, np.float32), w)])  # the only gradient is lambda * w: each weight shrinks
        assert np.all(np.abs(w.numpy()) < np.abs(W0)), name
    with pytest.raises(ValueError, match="decoupled by definition"):
        create_optimizer(optimizer("adamw", lr=0.1, weight_decay=0.1, weight_decay_mode="coupled"), steps=10)
    with pytest.raises(ValueError, match="weight_decay_mode"):
        create_optimizer(optimizer("sgd", lr=0.1, weight_decay=0.1, weight_decay_mode="l2"), steps=10)


def test_paper_sgd_recipes_use_coupled_weight_decay():
    from lrfr_tf.train.recipes import load_config

    for name in ("arcface", "bt", "bt_m", "st", "st_m1", "st_m2", "sl_margin"):
        sgd = [u.optimizer for s in load_config(name).stages.values() for u in s.updates.values()
               if u.optimizer.name == "sgd" and u.optimizer.weight_decay]
        assert sgd and all(o.weight_decay_mode == "coupled" for o in sgd), name


def test_coupled_weight_decay_resumes_exactly(tmp_path):
    """A coupled-decay optimizer checkpoints like Keras's own (its momentum restored): 4 steps straight equal
    2 steps, a restart, 2 more; and the decay is what changes the weights against the decoupled run."""
    from lrfr_tf.train.engine import Trainer
    from train_fixtures import assert_same_weights, tiny_config, weights_of

    def config(mode):
        return tiny_config(steps=4, stages__train__updates__main__optimizer__weight_decay_mode=mode,
                           stages__train__updates__main__optimizer__weight_decay=0.05)

    straight = Trainer(config("coupled"), str(tmp_path / "a"))
    straight.run()
    assert type(straight.stages[0].updates[0].optimizer).__name__ == "CoupledSGD"
    Trainer(config("coupled"), str(tmp_path / "b")).run(stop_at=2)
    resumed = Trainer(config("coupled"), str(tmp_path / "b"))
    assert resumed.restore() == 2
    resumed.run()
    assert_same_weights(weights_of(straight), weights_of(resumed))
    decoupled = Trainer(config("decoupled"), str(tmp_path / "c"))
    decoupled.run()
    kernel = [k for k in weights_of(straight) if k.endswith("kernel")][0]
    assert np.max(np.abs(weights_of(straight)[kernel] - weights_of(decoupled)[kernel])) > 1e-6
