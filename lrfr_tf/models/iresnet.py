"""ArcFace "IR" ResNets (IResNet-18/34/50/100).

Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face
Recognition", CVPR 2019, Sec. 3.2 / Fig. 7 (the improved residual unit
BN-conv-BN-PReLU-conv-BN) and the insightface ``iresnet`` reference:
a stride-1 3x3 stem (conv-BN-PReLU), four stages of 64/128/256/512 channels
whose first unit has stride 2 (on its second conv) and a 1x1 stride-2
conv-BN projection shortcut, and the output head
BN -> dropout -> flatten -> FC -> BN (the last BN without a learned scale).

RIM (Tang et al.) uses IResNet-50 as the teacher and IResNet-34 as student
and assistant.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

import keras

from lrfr_tf.models.layers import (Backbone, ConvBNAct, check_choice, feature_grid, pool_or_flatten, run_stages,
                                   stage_layout)
from lrfr_tf.models.model_registry import BACKBONES

#: Residual units per stage (insightface iresnet.py).
IRESNET_UNITS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 14, 3), 100: (3, 13, 30, 3)}
BN_EPSILON = 1e-5  # PyTorch BatchNorm default, as in insightface
BN_MOMENTUM = 0.9  # PyTorch momentum 0.1


def _conv(filters, kernel_size, strides, activation=None):
    return ConvBNAct(filters, kernel_size, strides=strides, padding="symmetric", batch_norm=True,
                     activation=activation, bn_epsilon=BN_EPSILON, bn_momentum=BN_MOMENTUM)


@keras.saving.register_keras_serializable(package="lrfr_tf")
class IRUnit(keras.layers.Layer):
    """Improved residual unit: BN -> conv3x3 -> BN -> act -> conv3x3(stride) -> BN, plus shortcut.

    The shortcut is the identity, or conv1x1(stride) -> BN when the stride or
    the channel count changes.
    """

    def __init__(self, filters: int, strides: int = 1, activation: str = "prelu", **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.strides = strides
        self.activation = activation
        self.bn = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="bn")
        self.conv1 = _conv(filters, 3, 1, activation)
        self.conv2 = _conv(filters, 3, strides)
        self.shortcut = None

    def build(self, input_shape):
        if self.strides != 1 or input_shape[-1] != self.filters:
            self.shortcut = _conv(self.filters, 1, self.strides)

    def call(self, x, training=None):
        y = self.bn(x, training=training)
        y = self.conv1(y, training=training)
        y = self.conv2(y, training=training)
        shortcut = x if self.shortcut is None else self.shortcut(x, training=training)
        return y + shortcut

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "strides": self.strides,
                "activation": self.activation}


@keras.saving.register_keras_serializable(package="lrfr_tf")
class IResNet(Backbone):
    """ArcFace IResNet backbone.

    Args:
      units: residual units per stage, e.g. (3, 4, 14, 3) for IResNet-50.
      channels: channels of the four stages.
      stem_channels: channels of the 3x3 stem.
      embedding_dim: embedding size (512 in ArcFace).
      activation: "prelu" (ArcFace) or "relu". Note: int8 TFLite with PReLU
        runs about 3x slower than with ReLU on x86 CPUs (XNNPACK); prefer ReLU
        for quantised x86 deployment.
      head: "flatten" (insightface: flatten the 7x7 map into the FC, tied to
        the preprocessing size), "adaptive_flatten" (default: same weights,
        the last feature map is resized bilinearly to the native grid when
        the input size differs, so any input size works and 112 px is
        unchanged) or "gap" (global average pooling before the FC).
      dropout: dropout rate before the FC (0 in ArcFace's recipes).
      preprocessing: input contract (ARCFACE by default); its size fixes the
        native grid of the head (112 -> 7x7).
    """

    HEADS = ("flatten", "adaptive_flatten", "gap")

    def __init__(self, units: Sequence[int] = IRESNET_UNITS[50], channels: Sequence[int] = (64, 128, 256, 512),
                 stem_channels: int = 64, embedding_dim: int = 512, activation: str = "prelu",
                 head: str = "adaptive_flatten", dropout: float = 0.0, preprocessing=None, **kwargs):
        super().__init__(embedding_dim=embedding_dim, preprocessing=preprocessing, **kwargs)
        check_choice("head", head, self.HEADS)
        self.units, self.channels = stage_layout(units, channels)
        self.stem_channels = int(stem_channels)
        self.activation = activation
        self.head = head
        self.dropout = float(dropout)
        self.grid = feature_grid(self.preprocessing.size, [2] * len(self.units))
        self.stem = _conv(self.stem_channels, 3, 1, activation)
        self.stages = [[IRUnit(c, 2 if i == 0 else 1, activation) for i in range(n)]
                       for n, c in zip(self.units, self.channels)]
        self.head_bn = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="head_bn")
        self.head_dropout = keras.layers.Dropout(self.dropout)
        self.fc = keras.layers.Dense(self.embedding_dim, name="fc")
        self.features = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, scale=False,
                                                        name="features")

    def forward(self, x, training=None):
        x, blocks = run_stages(self.stages, self.stem(x, training=training), training)
        x = self.head_bn(x, training=training)
        x = self.head_dropout(x, training=training)
        x = self.fc(pool_or_flatten(x, self.head, self.grid, self.name))
        x = self.features(x, training=training)
        return self._embedding(x), blocks

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "units": self.units, "channels": self.channels,
                "stem_channels": self.stem_channels, "activation": self.activation, "head": self.head,
                "dropout": self.dropout}


def _register(depth: int):
    name = f"iresnet{depth}"

    def factory(**kwargs) -> IResNet:
        return IResNet(**{"units": IRESNET_UNITS[depth], "name": name, **kwargs})

    factory.__name__ = name
    factory.__doc__ = f"IResNet-{depth}: units per stage {IRESNET_UNITS[depth]}; kwargs as IResNet."
    BACKBONES.register(name)(factory)
    return factory


iresnet18, iresnet34, iresnet50, iresnet100 = (_register(d) for d in (18, 34, 50, 100))
