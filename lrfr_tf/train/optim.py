"""Optimizers (core Keras) and learning-rate schedules from config."""

from __future__ import annotations

import math
from typing import Sequence

import keras
import tensorflow as tf

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "piecewise", "cosine", "linear")
WEIGHT_DECAY_MODES = ("coupled", "decoupled")


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


class CoupledWeightDecay:
    """Mixin: the papers' coupled L2 weight decay, ``g <- g + lambda * w`` before the optimizer's own update.

    The gradient of ``lambda / 2 * |w|^2`` added to the loss (Caffe's ``weight_decay``, PyTorch's SGD / Adam /
    RMSprop ``weight_decay``), so with momentum the decay term is accumulated in the momentum buffer like the
    gradient. It comes after gradient clipping (``global_clipnorm`` clips the loss gradient only, as Caffe and
    PyTorch's ``clip_grad_norm_`` + ``step``). Variables excluded by ``exclude_from_weight_decay`` are not decayed.
    """

    def __init__(self, *args, coupled_weight_decay: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        if self.weight_decay is not None:
            raise ValueError("coupled weight decay replaces Keras's decoupled weight_decay; pass only one")
        self.coupled_weight_decay = float(coupled_weight_decay)
        self._coupled_indices = frozenset()

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        # Decided once from the Keras variables (names as exclude_from_weight_decay matches them); a frozenset
        # is not wrapped by the attribute trackers, so the checkpoint's object graph is unchanged.
        self._coupled_indices = frozenset(self._get_variable_index(v) for v in variables if self._use_weight_decay(v))

    def update_step(self, gradient, variable, learning_rate):
        if self.coupled_weight_decay and self._get_variable_index(variable) in self._coupled_indices:
            decay = keras.ops.cast(self.coupled_weight_decay, variable.dtype)
            gradient = keras.ops.add(keras.ops.cast(gradient, variable.dtype), keras.ops.multiply(variable, decay))
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "coupled_weight_decay": self.coupled_weight_decay}


@keras.saving.register_keras_serializable(package="lrfr_tf")
class CoupledSGD(CoupledWeightDecay, keras.optimizers.SGD):
    """SGD (momentum, Nesterov) with coupled L2 weight decay (``CoupledWeightDecay``)."""


@keras.saving.register_keras_serializable(package="lrfr_tf")
class CoupledAdam(CoupledWeightDecay, keras.optimizers.Adam):
    """Adam with coupled L2 weight decay (the L2 penalty of Adam, not AdamW's decoupled decay)."""


@keras.saving.register_keras_serializable(package="lrfr_tf")
class CoupledRMSprop(CoupledWeightDecay, keras.optimizers.RMSprop):
    """RMSprop with coupled L2 weight decay (``CoupledWeightDecay``)."""


def create_optimizer(config, steps: int, precision: str = "float32", name: str | None = None) -> keras.optimizers.Optimizer:
    """SGD (momentum, Nesterov), Adam, AdamW or RMSprop with the stage schedule.

    ``weight_decay`` (lambda) is applied as ``weight_decay_mode`` says:

    * ``"coupled"``: the papers' L2 decay (ArcFace's MXNet and SphereFace's Caffe SGD: 5e-4 with momentum 0.9):
      ``lambda * w`` is added to the gradient before the optimizer's update (the gradient of
      ``lambda / 2 * |w|^2`` added to the loss), so with momentum ``mu`` it passes through the momentum
      buffer. For sgd, adam (then Adam with an L2 penalty) and rmsprop.
    * ``"decoupled"``: Keras's ``weight_decay``, ``w -= lr * lambda * w`` applied to the weights outside the
      gradient (Loshchilov & Hutter). For sgd, adamw and rmsprop.

    The two are NOT equivalent with momentum: for a slowly varying ``w`` the coupled decay moves the weights by
    about ``lr * lambda * w / (1 - mu)`` per step, 10x the decoupled ``lr * lambda * w`` at ``mu = 0.9``; they agree
    only for plain SGD (``momentum = 0``). With adaptive optimizers (Adam, RMSprop) the coupled term is also
    rescaled by the per-weight step size. Norm/bias weights are excluded (both modes) when
    ``decay_norm_and_bias`` is false. ``clipnorm > 0`` clips the global gradient norm (before the coupled
    decay is added). Under ``mixed_float16`` the optimizer is wrapped in a dynamic ``LossScaleOptimizer``.
    """
    kind = config.name
    mode = config.weight_decay_mode
    if kind not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {kind!r}; choose one of {OPTIMIZERS}")
    if mode not in WEIGHT_DECAY_MODES:
        raise ValueError(f"unknown weight_decay_mode {mode!r}; choose one of {WEIGHT_DECAY_MODES}")
    lr = create_schedule(config, steps)
    common = dict(learning_rate=lr, name=name)
    clip = float(config.clipnorm)
    if clip > 0:
        common["global_clipnorm"] = clip
    wd = float(config.weight_decay) or None
    coupled = bool(wd) and mode == "coupled"
    if coupled:
        if kind == "adamw":
            raise ValueError("adamw's weight decay is decoupled by definition; use adam with "
                             "weight_decay_mode='coupled' for an L2 penalty, or weight_decay_mode='decoupled'")
        common["coupled_weight_decay"] = wd
        wd = None
    if kind == "sgd":
        cls = CoupledSGD if coupled else keras.optimizers.SGD
        opt = cls(momentum=config.momentum, nesterov=config.nesterov, weight_decay=wd, **common)
    elif kind == "adam":
        if wd:
            raise ValueError("adam takes no decoupled weight_decay; use adamw, or weight_decay_mode='coupled' "
                             "for an L2 penalty")
        cls = CoupledAdam if coupled else keras.optimizers.Adam
        opt = cls(beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon, **common)
    elif kind == "adamw":
        opt = keras.optimizers.AdamW(weight_decay=wd or 0.0, beta_1=config.beta_1, beta_2=config.beta_2,
                                     epsilon=config.epsilon, **common)
    else:
        cls = CoupledRMSprop if coupled else keras.optimizers.RMSprop
        opt = cls(rho=config.rho, momentum=config.momentum, epsilon=config.epsilon, weight_decay=wd, **common)
    if (wd or coupled) and not config.decay_norm_and_bias:
        opt.exclude_from_weight_decay(var_names=["bias", "beta", "gamma", "prelu", "alpha"])
    if precision == "mixed_float16":
        opt = keras.optimizers.LossScaleOptimizer(opt, name=f"{name}_loss_scale" if name else None)
    return opt


def current_lr(optimizer: keras.optimizers.Optimizer) -> float:
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    lr = inner.learning_rate
    return float(lr.numpy() if hasattr(lr, "numpy") else lr)
