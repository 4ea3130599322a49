"""Optimizers (core Keras) and learning-rate schedules from config."""

from __future__ import annotations

import math
from typing import Sequence

import keras
import tensorflow as tf

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "piecewise", "cosine", "linear")


@keras.saving.register_keras_serializable(package="lrfr_tf")
class StageSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then constant / step (piecewise) / cosine / linear decay over ``steps``.

    ``boundaries`` are fractions of ``steps`` (so one schedule serves the paper scale and the
    smoke scale); at each boundary the rate is multiplied by ``factor`` (ArcFace: 0.1).
    Cosine and linear decay go from ``lr`` to ``lr * final_fraction``.
    """

    def __init__(self, lr: float, steps: int, kind: str = "constant", boundaries: Sequence[float] = (),
                 factor: float = 0.1, warmup_steps: int = 0, final_fraction: float = 0.0):
        if kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {kind!r}; choose one of {SCHEDULES}")
        if any(not 0.0 < b < 1.0 for b in boundaries):
            raise ValueError(f"schedule boundaries are fractions of the stage in (0, 1), got {list(boundaries)}")
        self.lr = float(lr)
        self.steps = max(int(steps), 1)
        self.kind = kind
        self.boundaries = [float(b) for b in boundaries]
        self.factor = float(factor)
        self.warmup_steps = int(warmup_steps)
        self.final_fraction = float(final_fraction)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        lr = tf.constant(self.lr, tf.float32)
        if self.kind == "piecewise":
            passed = tf.add_n([tf.cast(step >= math.floor(b * self.steps), tf.float32) for b in self.boundaries] or [0.0])
            lr = lr * tf.pow(self.factor, passed)
        elif self.kind in ("cosine", "linear"):
            w = float(self.warmup_steps)
            t = tf.clip_by_value((step - w) / max(float(self.steps) - w, 1.0), 0.0, 1.0)
            shape = 0.5 * (1.0 + tf.cos(math.pi * t)) if self.kind == "cosine" else 1.0 - t
            lr = lr * (self.final_fraction + (1.0 - self.final_fraction) * shape)
        if self.warmup_steps > 0:
            lr = lr * tf.minimum(1.0, (step + 1.0) / float(self.warmup_steps))
        return lr

    def get_config(self):
        return dict(lr=self.lr, steps=self.steps, kind=self.kind, boundaries=self.boundaries, factor=self.factor,
                    warmup_steps=self.warmup_steps, final_fraction=self.final_fraction)


def create_schedule(config, steps: int) -> StageSchedule:
    """``config`` (``defaults.optimizer``): lr, schedule (kind), boundaries, factor, warmup_steps, final_fraction."""
    return StageSchedule(lr=config.lr, steps=steps, kind=config.schedule, boundaries=config.boundaries,
                         factor=config.factor, warmup_steps=config.warmup_steps, final_fraction=config.final_fraction)


def create_optimizer(config, steps: int, precision: str = "float32", name: str | None = None) -> keras.optimizers.Optimizer:
    """SGD (momentum, Nesterov), Adam, AdamW or RMSprop with the stage schedule.

    ``weight_decay`` is Keras's decoupled decay (``w -= lr * wd * w``); for plain SGD that equals
    the papers' L2 penalty of ``wd / 2 * |w|^2``. Norm/bias weights are excluded when
    ``decay_norm_and_bias`` is false. ``clipnorm > 0`` clips the global gradient norm.
    Under ``mixed_float16`` the optimizer is wrapped in a dynamic ``LossScaleOptimizer``.
    """
    kind = config.name
    lr = create_schedule(config, steps)
    common = dict(learning_rate=lr, name=name)
    clip = float(config.clipnorm)
    if clip > 0:
        common["global_clipnorm"] = clip
    wd = float(config.weight_decay) or None
    if kind == "sgd":
        opt = keras.optimizers.SGD(momentum=config.momentum, nesterov=config.nesterov, weight_decay=wd, **common)
    elif kind == "adam":
        opt = keras.optimizers.Adam(beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon, **common)
        if wd:
            raise ValueError("adam takes no weight_decay; use adamw")
    elif kind == "adamw":
        opt = keras.optimizers.AdamW(weight_decay=wd or 0.0, beta_1=config.beta_1, beta_2=config.beta_2,
                                     epsilon=config.epsilon, **common)
    elif kind == "rmsprop":
        opt = keras.optimizers.RMSprop(rho=config.rho, momentum=config.momentum, epsilon=config.epsilon,
                                       weight_decay=wd, **common)
    else:
        raise ValueError(f"unknown optimizer {kind!r}; choose one of {OPTIMIZERS}")
    if wd and not config.decay_norm_and_bias:
        opt.exclude_from_weight_decay(var_names=["bias", "beta", "gamma", "prelu", "alpha"])
    if precision == "mixed_float16":
        opt = keras.optimizers.LossScaleOptimizer(opt, name=f"{name}_loss_scale" if name else None)
    return opt


def current_lr(optimizer: keras.optimizers.Optimizer) -> float:
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    lr = inner.learning_rate
    return float(lr.numpy() if hasattr(lr, "numpy") else lr)
