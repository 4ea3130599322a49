"""RIM's face hallucination sub-net: coarse SR, tri-path generator, mix-adversarial discriminator.

``FaceHallucinationNet`` ("rim_fhn") maps an LR face to an SR face in two steps
(as FSRNet, Chen et al. 2018, and RIM):

1. coarse SR net: conv -> residual blocks -> conv, added to the (bilinearly
   upscaled) input, giving a coarse HR estimate;
2. tri-path generator on the coarse image, three stride-2 encoders in parallel:
   the global path (appearance features), the landmark path (predicts landmark
   heatmaps, supervised by ``HeatmapMSELoss``) and the parsing path (predicts
   parsing-map logits, supervised by ``ParsingCrossEntropyLoss``); their features
   and predicted priors are concatenated and fused, decoded back to full size
   and added to the coarse image.

Output (float32, also under a mixed-precision policy): {"sr", "coarse": [B, H, W, 3]
in [0, 255], "heatmaps": [B, H/2, W/2, L], "parsing_logits": [B, H/2, W/2, P]}; priors are predicted at stride
``prior_stride`` = 2 of the output (render targets with
``lrfr_tf.losses.prior_losses.render_landmark_heatmaps(..., image_size=(H, W))``).

``MixAdversarialDiscriminator`` ("rim_discriminator") embeds a face with a
strided-conv trunk and two heads: the feature-integrator path (global-pooled
features of every stage, concatenated and projected: the features on which
the generator and discriminator play the MK-MMD minimax) and the domain path
(a real-HR vs hallucinated logit for the adversarial loss).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from lrfr_tf.models.model_registry import SR_NETS
from lrfr_tf.models.srnet import ImageModel, from_unit_range, to_unit_range

_PACKAGE = "lrfr_tf"


def _conv(filters, size, name, strides=1, use_bias=True):
    return keras.layers.Conv2D(
        filters, size, strides=strides, padding="same", use_bias=use_bias, kernel_initializer="he_normal", name=name
    )


@keras.saving.register_keras_serializable(package=_PACKAGE)
class HallucinationResidualBlock(keras.layers.Layer):
    """x + BN(conv3x3(ReLU(BN(conv3x3(x)))))."""

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.conv1 = _conv(self.filters, 3, "conv1", use_bias=False)
        self.bn1 = keras.layers.BatchNormalization(name="bn1")
        self.conv2 = _conv(self.filters, 3, "conv2", use_bias=False)
        self.bn2 = keras.layers.BatchNormalization(name="bn2")

    def call(self, x, training=None):
        y = tf.nn.relu(self.bn1(self.conv1(x), training=training))
        return x + self.bn2(self.conv2(y), training=training)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class HallucinationPath(keras.layers.Layer):
    """One path of the tri-path generator: stride-2 conv + ReLU, residual blocks, optional 1x1 prior head.

    Returns (features, prior) with prior = None when ``prior_channels`` is 0.
    """

    def __init__(self, filters: int, num_blocks: int, prior_channels: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.num_blocks, self.prior_channels = int(filters), int(num_blocks), int(prior_channels)
        self.down = _conv(self.filters, 3, "down", strides=2)
        self.blocks = [HallucinationResidualBlock(self.filters, name=f"block{i}") for i in range(self.num_blocks)]
        self.head = keras.layers.Conv2D(self.prior_channels, 1, name="prior") if self.prior_channels else None

    def call(self, x, training=None):
        x = tf.nn.relu(self.down(x))
        for block in self.blocks:
            x = block(x, training=training)
        return x, (self.head(x) if self.head is not None else None)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "num_blocks": self.num_blocks,
            "prior_channels": self.prior_channels,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FaceHallucinationNet(ImageModel):
    """Coarse SR net + tri-path generator (see module docstring).

    Args:
      scale: upscaling factor of the input (1 when the LR face is already
        resized to the output size, as ``resolution(size=r)|resize()`` returns it);
        a larger integer scale upsamples bilinearly first.
      filters: channels of every conv.
      num_coarse_blocks: residual blocks of the coarse SR net.
      num_blocks: residual blocks per generator path and in the fusion decoder.
      num_landmarks: heatmap channels L (5 for 5-point landmarks).
      num_parsing_classes: parsing classes P (background + face regions).
      channels: image channels.
    """

    prior_stride = 2

    def __init__(
        self,
        scale: int = 1,
        filters: int = 64,
        num_coarse_blocks: int = 3,
        num_blocks: int = 2,
        num_landmarks: int = 5,
        num_parsing_classes: int = 6,
        channels: int = 3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(scale) != scale or int(scale) < 1:
            raise ValueError(f"FaceHallucinationNet scale must be a positive integer, got {scale}")
        self.scale, self.filters = int(scale), int(filters)
        self.num_coarse_blocks, self.num_blocks = int(num_coarse_blocks), int(num_blocks)
        self.num_landmarks, self.num_parsing_classes = int(num_landmarks), int(num_parsing_classes)
        self.channels = self.in_channels = int(channels)
        self.input_multiple = self.prior_stride // math.gcd(self.prior_stride, self.scale)

        self.upsample = (
            keras.layers.UpSampling2D(self.scale, interpolation="bilinear", name="upsample") if self.scale > 1 else None
        )
        self.coarse_in = _conv(self.filters, 3, "coarse_in")
        self.coarse_blocks = [
            HallucinationResidualBlock(self.filters, name=f"coarse_block{i}") for i in range(self.num_coarse_blocks)
        ]
        self.coarse_out = _conv(self.channels, 3, "coarse_out")
        self.global_path = HallucinationPath(self.filters, self.num_blocks, name="global_path")
        self.landmark_path = HallucinationPath(self.filters, self.num_blocks, self.num_landmarks, name="landmark_path")
        self.parsing_path = HallucinationPath(
            self.filters, self.num_blocks, self.num_parsing_classes, name="parsing_path"
        )
        self.fuse = _conv(self.filters, 1, "fuse")
        self.fuse_blocks = [
            HallucinationResidualBlock(self.filters, name=f"fuse_block{i}") for i in range(self.num_blocks)
        ]
        self.up = keras.layers.Conv2DTranspose(
            self.filters, 4, strides=2, padding="same", kernel_initializer="he_normal", name="up"
        )
        self.fine_out = _conv(self.channels, 3, "fine_out")

    def call(self, images, training=None):
        self.check_input_size(images.shape)
        x = to_unit_range(images)
        if self.upsample is not None:
            x = self.upsample(x)
        y = tf.nn.relu(self.coarse_in(x))
        for block in self.coarse_blocks:
            y = block(y, training=training)
        coarse = x + tf.cast(self.coarse_out(y), tf.float32)

        features, _ = self.global_path(coarse, training=training)
        landmark_features, heatmaps = self.landmark_path(coarse, training=training)
        parsing_features, parsing_logits = self.parsing_path(coarse, training=training)
        fused = tf.concat(
            [features, landmark_features, heatmaps, parsing_features, tf.nn.softmax(parsing_logits, axis=-1)], axis=-1
        )
        y = tf.nn.relu(self.fuse(fused))
        for block in self.fuse_blocks:
            y = block(y, training=training)
        sr = coarse + tf.cast(self.fine_out(tf.nn.relu(self.up(y))), tf.float32)
        return {
            "sr": from_unit_range(sr),
            "coarse": from_unit_range(coarse),
            "heatmaps": tf.cast(heatmaps, tf.float32),
            "parsing_logits": tf.cast(parsing_logits, tf.float32),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            scale=self.scale,
            filters=self.filters,
            num_coarse_blocks=self.num_coarse_blocks,
            num_blocks=self.num_blocks,
            num_landmarks=self.num_landmarks,
            num_parsing_classes=self.num_parsing_classes,
            channels=self.channels,
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MixAdversarialDiscriminator(ImageModel):
    """Strided-conv trunk with a feature-integrator path and a domain path (see module docstring).

    Input: faces [B, H, W, 3] in [0, 255]. Output: {"features": [B, feature_dim],
    "domain_logits": [B, 1]}.

    Args:
      filters: channels of the first stage, doubled per stage up to ``max_filters``.
      max_filters: channel cap.
      num_stages: 4x4 stride-2 conv + LeakyReLU(0.2) stages of the trunk.
      feature_dim: size of the integrated feature vector.
      channels: image channels.
    """

    def __init__(
        self,
        filters: int = 64,
        max_filters: int = 512,
        num_stages: int = 4,
        feature_dim: int = 256,
        channels: int = 3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_stages) < 1:
            raise ValueError(f"num_stages must be >= 1, got {num_stages}")
        self.filters, self.max_filters, self.num_stages = int(filters), int(max_filters), int(num_stages)
        self.feature_dim = int(feature_dim)
        self.channels = self.in_channels = int(channels)
        self.input_multiple = 1
        widths = [min(self.filters * 2**i, self.max_filters) for i in range(self.num_stages)]
        self.stages = [
            keras.layers.Conv2D(w, 4, strides=2, padding="same", kernel_initializer="he_normal", name=f"stage{i}")
            for i, w in enumerate(widths)
        ]
        self.integrator = keras.layers.Dense(self.feature_dim, name="feature_integrator")
        self.domain_conv = _conv(widths[-1], 3, "domain_conv")
        self.domain_logit = keras.layers.Dense(1, name="domain_logit")

    def call(self, images):
        self.check_input_size(images.shape)
        x = to_unit_range(images)
        pooled = []
        for stage in self.stages:
            x = tf.nn.leaky_relu(stage(x), alpha=0.2)
            pooled.append(tf.reduce_mean(x, axis=[1, 2]))
        features = self.integrator(tf.concat(pooled, axis=-1))
        domain = tf.reduce_mean(tf.nn.leaky_relu(self.domain_conv(x), alpha=0.2), axis=[1, 2])
        return {
            "features": tf.cast(features, tf.float32),
            "domain_logits": tf.cast(self.domain_logit(domain), tf.float32),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            max_filters=self.max_filters,
            num_stages=self.num_stages,
            feature_dim=self.feature_dim,
            channels=self.channels,
        )
        return config


SR_NETS.register("rim_fhn")(FaceHallucinationNet)
SR_NETS.register("rim_discriminator")(MixAdversarialDiscriminator)
