"""Identity-preserving U-Net: a pix2pix-style (Isola et al. 2017) face super-resolution generator.

Input: the LR face upscaled to the output size (e.g. 128x128, as
``resolution(size=r)|resize()`` of ``lrfr_tf.data.degrade`` returns it); output: the restored face,
both float32 RGB in [0, 255]. Trained with a pixel loss plus an identity loss
from a frozen recognizer (``lrfr_tf.losses.IdentityLoss``).

Encoder: ``num_levels`` blocks of 4x4 stride-2 conv -> batch norm -> LeakyReLU(0.2)
(no batch norm in the first and the innermost 1x1 block). Decoder: ``num_levels - 1``
blocks of 4x4 stride-2 transposed conv -> batch norm -> dropout (first
``num_dropout`` blocks) -> ReLU, each concatenated with the encoder output of the
same size, then a last 4x4 stride-2 transposed conv to RGB with tanh. With the
defaults (7 levels, 64..512 channels) a 128x128 input is encoded down to 1x1.

``pad_input=True`` takes any input size: the image is mirror-padded (reflection, centred) to the next
multiple of 2^num_levels, run through the net and the output cropped back, so a 7-level net (128 px)
restores 112x112 faces: 8 px of reflection on each side, the output's central 112x112.

``residual=True`` (not pix2pix: VDSR's global residual, Kim et al. CVPR 2016) adds the tanh output to the input
in [-1, 1] and clips: SR(x) = clip(x + tanh(...), -1, 1). With the 0.02-std initialisation the net starts near
the identity (the bicubic face, within a few grey levels) instead of a flat grey image, which is what short runs
need (the recipes' smoke and claim scales).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from lrfr_tf.models.model_registry import SR_NETS
from lrfr_tf.models.srnet import ImageModel, from_unit_range, to_unit_range

_PACKAGE = "lrfr_tf"
_INIT = keras.initializers.RandomNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class IdentityPreservingUNet(ImageModel):
    """pix2pix U-Net generator (see module docstring).

    Args:
      filters: channels of the first encoder block; doubled per level up to ``max_filters``.
      max_filters: channel cap.
      num_levels: encoder blocks (input sides must be multiples of 2^num_levels).
      dropout_rate: dropout of the first ``num_dropout`` decoder blocks.
      num_dropout: decoder blocks with dropout.
      channels: image channels.
      seed: seed of the dropout masks (their generator state is a weight of the
        model, so a resumed run continues the same mask sequence).
      pad_input: accept any input size by reflection-padding it to a multiple of
        2^num_levels and cropping the output back (see the module docstring); each
        side's padding must be smaller than the side.
    """

    def __init__(
        self,
        filters: int = 64,
        max_filters: int = 512,
        num_levels: int = 7,
        dropout_rate: float = 0.5,
        num_dropout: int = 3,
        channels: int = 3,
        seed: int = 0,
        pad_input: bool = False,
        residual: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_levels) < 2:
            raise ValueError(f"num_levels must be >= 2, got {num_levels}")
        self.filters, self.max_filters, self.num_levels = int(filters), int(max_filters), int(num_levels)
        self.dropout_rate, self.num_dropout = float(dropout_rate), int(num_dropout)
        self.channels = self.in_channels = int(channels)
        self.seed = int(seed)
        self.scale = 1
        self.pad_input = bool(pad_input)
        self.residual = bool(residual)
        self.depth_multiple = 2**self.num_levels  # the side the encoder halves down to 1 px
        self.input_multiple = 1 if self.pad_input else self.depth_multiple

        widths = [min(self.filters * 2**i, self.max_filters) for i in range(self.num_levels)]
        self.down_convs, self.down_norms = [], []
        for i, width in enumerate(widths):
            with_norm = 0 < i < self.num_levels - 1
            self.down_convs.append(
                keras.layers.Conv2D(
                    width, 4, strides=2, padding="same", use_bias=not with_norm, kernel_initializer=_INIT,
                    name=f"down{i}",
                )
            )
            self.down_norms.append(keras.layers.BatchNormalization(name=f"down{i}_bn") if with_norm else None)
        self.down_acts = [keras.layers.LeakyReLU(0.2, name=f"down{i}_lrelu") for i in range(self.num_levels)]
        self.up_convs, self.up_norms, self.up_dropouts = [], [], []
        for j, width in enumerate(reversed(widths[:-1])):
            self.up_convs.append(
                keras.layers.Conv2DTranspose(
                    width, 4, strides=2, padding="same", use_bias=False, kernel_initializer=_INIT, name=f"up{j}"
                )
            )
            self.up_norms.append(keras.layers.BatchNormalization(name=f"up{j}_bn"))
            dropout = keras.layers.Dropout(self.dropout_rate, seed=self.seed + j, name=f"up{j}_dropout")
            self.up_dropouts.append(dropout if j < self.num_dropout else None)
        self.up_acts = [keras.layers.ReLU(name=f"up{j}_relu") for j in range(self.num_levels - 1)]
        self.to_rgb = keras.layers.Conv2DTranspose(
            self.channels, 4, strides=2, padding="same", kernel_initializer=_INIT, activation="tanh", name="to_rgb"
        )

    def build(self, input_shape):
        # unknown sides: the smallest size the encoder takes without padding
        super().build([input_shape[0], *[self.depth_multiple if d is None else d for d in input_shape[1:3]],
                       *input_shape[3:]])

    def _padding(self, images):
        """[[top, bottom], [left, right]] reflection padding up to the next multiples of 2^num_levels."""
        pads = []
        for axis in (1, 2):
            side = images.shape[axis]
            if side is None:
                side = tf.shape(images)[axis]
                total = (-side) % self.depth_multiple
            else:
                total = (-side) % self.depth_multiple
                if total and max(total - total // 2, total // 2) >= side:
                    raise ValueError(f"{type(self).__name__}: pad_input cannot reflect {side} px up to "
                                     f"{side + total} px (each side's padding must be smaller than the side)")
            pads.append([total // 2, total - total // 2])
        return pads

    def call(self, images, training=None):
        self.check_input_size(images.shape)
        x = to_unit_range(images)
        if self.pad_input:
            pads = self._padding(x)
            x = tf.pad(x, [[0, 0], *pads, [0, 0]], mode="REFLECT")
        skips = []
        for conv, norm, act in zip(self.down_convs, self.down_norms, self.down_acts):
            x = conv(x)
            if norm is not None:
                x = norm(x, training=training)
            x = act(x)
            skips.append(x)
        decoder = zip(self.up_convs, self.up_norms, self.up_dropouts, self.up_acts, reversed(skips[:-1]))
        for conv, norm, dropout, act, skip in decoder:
            x = norm(conv(x), training=training)
            if dropout is not None:
                x = dropout(x, training=training)
            x = tf.concat([act(x), skip], axis=-1)
        out = self.to_rgb(x)
        if self.pad_input:
            (top, _), (left, _) = pads
            height, width = [images.shape[a] if images.shape[a] is not None else tf.shape(images)[a] for a in (1, 2)]
            out = out[:, top:top + height, left:left + width, :]
        if self.residual:
            out = tf.clip_by_value(to_unit_range(images) + out, -1.0, 1.0)
        return from_unit_range(out)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            max_filters=self.max_filters,
            num_levels=self.num_levels,
            dropout_rate=self.dropout_rate,
            num_dropout=self.num_dropout,
            channels=self.channels,
            seed=self.seed,
            pad_input=self.pad_input,
            residual=self.residual,
        )
        return config


SR_NETS.register("ip_unet")(IdentityPreservingUNet)
