"""Schedules against their formulas; optimizer construction (weight decay, clipping, loss scaling)."""

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


def test_sgd_weight_decay_skips_norm_and_bias():
    kernel, bias = keras.Variable(np.ones(3, np.float32), name="kernel"), keras.Variable(np.ones(3, np.float32), name="bias")
    opt = create_optimizer(optimizer("sgd", lr=0.1, momentum=0.0, weight_decay=0.5), steps=10)
    opt.apply_gradients([(np.zeros(3, np.float32), kernel), (np.zeros(3, np.float32), bias)])
    np.testing.assert_allclose(kernel.numpy(), 1 - 0.1 * 0.5)  # decoupled decay w -= lr * wd * w
    np.testing.assert_allclose(bias.numpy(), 1.0)
    with pytest.raises(ValueError, match="adamw"):
        create_optimizer(optimizer("adam", lr=0.1, weight_decay=0.1), steps=10)
