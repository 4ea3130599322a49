"""The 20-layer SphereFace ResNet (Liu et al., "SphereFace: Deep Hypersphere
Embedding for Face Recognition", CVPR 2017, Table 2, the 20-layer column),
the backbone of the SL-margin paper.

Four stages, each a stride-2 conv3x3 (+PReLU) followed by 1 / 2 / 4 / 1
residual units of two conv3x3 (+PReLU) with an identity shortcut (no
activation after the sum), 64 / 128 / 256 / 512 channels, then a fully
connected 512-d embedding: 4 + 2 x 8 = 20 conv layers. No batch norm in the
original (Caffe prototxt: biased convs, PReLU, Gaussian std 0.01 init for the
residual convs, Xavier for the rest). The paper crops 112x96; lrfr_tf's
default preprocessing is 112x112 (pass Preprocessing(size=(112, 96)) for the
original input).
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

import keras

from lrfr_tf.models.layers import (Backbone, ConvBNAct, check_choice, feature_grid, pool_or_flatten, run_stages,
                                   stage_layout)
from lrfr_tf.models.model_registry import BACKBONES


@keras.saving.register_keras_serializable(package="lrfr_tf")
class SphereResidualUnit(keras.layers.Layer):
    """x + act(conv3x3(act(conv3x3(x))))."""

    def __init__(self, filters: int, activation: str = "prelu", batch_norm: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.activation = activation
        self.batch_norm = batch_norm
        init = keras.initializers.RandomNormal(stddev=0.01)
        self.conv1 = ConvBNAct(filters, 3, padding="symmetric", batch_norm=batch_norm, activation=activation,
                               kernel_initializer=init, name="conv1")
        self.conv2 = ConvBNAct(filters, 3, padding="symmetric", batch_norm=batch_norm, activation=activation,
                               kernel_initializer=init, name="conv2")

    def call(self, x, training=None):
        return x + self.conv2(self.conv1(x, training=training), training=training)

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "activation": self.activation,
                "batch_norm": self.batch_norm}


@keras.saving.register_keras_serializable(package="lrfr_tf")
class SphereFaceResNet(Backbone):
    """SphereFace ResNet backbone (20 layers by default).

    Args:
      units: residual units per stage ((1, 2, 4, 1) for SphereFace-20,
        (3, 8, 16, 3) for SphereFace-64).
      channels: channels of the stages.
      embedding_dim: size of the FC embedding (512).
      activation: "prelu" (paper) or "relu". Note: int8 TFLite with PReLU
        runs about 3x slower than with ReLU on x86 CPUs (XNNPACK).
      batch_norm: add BN after every conv (not in the paper; eases training
        from scratch on small data).
      head: "flatten" (paper: the FC sees the flattened 7x6 map, tied to the
        preprocessing size), "adaptive_flatten" (default: same weights, the
        map is resized bilinearly to the native grid when the input size
        differs) or "gap" (global average pooling before the FC).
      preprocessing: input contract (ARCFACE, 112x112, by default).
    """

    HEADS = ("flatten", "adaptive_flatten", "gap")

    def __init__(self, units: Sequence[int] = (1, 2, 4, 1), channels: Sequence[int] = (64, 128, 256, 512),
                 embedding_dim: int = 512, activation: str = "prelu", batch_norm: bool = False,
                 head: str = "adaptive_flatten", preprocessing=None, **kwargs):
        super().__init__(embedding_dim=embedding_dim, preprocessing=preprocessing, **kwargs)
        check_choice("head", head, self.HEADS)
        self.units, self.channels = stage_layout(units, channels)
        self.activation = activation
        self.batch_norm = bool(batch_norm)
        self.head = head
        self.grid = feature_grid(self.preprocessing.size, [2] * len(self.units))
        self.downsample = [ConvBNAct(c, 3, strides=2, padding="symmetric", batch_norm=self.batch_norm,
                                     activation=activation, kernel_initializer="glorot_uniform")
                           for c in self.channels]
        self.stages = [[SphereResidualUnit(c, activation, self.batch_norm) for _ in range(n)]
                       for n, c in zip(self.units, self.channels)]
        self.fc = keras.layers.Dense(self.embedding_dim, kernel_initializer="glorot_uniform", name="fc5")

    def forward(self, x, training=None):
        stages = [[downsample, *stage] for downsample, stage in zip(self.downsample, self.stages)]
        x, blocks = run_stages(stages, x, training)
        return self._embedding(self.fc(pool_or_flatten(x, self.head, self.grid, self.name))), blocks

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "units": self.units, "channels": self.channels,
                "activation": self.activation, "batch_norm": self.batch_norm, "head": self.head}


@BACKBONES.register("sphereface20")
def sphereface20(**kwargs) -> SphereFaceResNet:
    """SphereFace-20: units (1, 2, 4, 1); kwargs as SphereFaceResNet."""
    return SphereFaceResNet(**{"units": (1, 2, 4, 1), "name": "sphereface20", **kwargs})
