"""SRnet: an FSRCNN-style face super-resolution net (Dong et al., ECCV 2016).

Every SR / hallucination net of lrfr_tf maps float32 RGB images in [0, 255]
(the pipeline convention) to images in [0, 255]; internally it works on
x / 127.5 - 1 (``to_unit_range`` / ``from_unit_range``). Outputs are not clipped,
so pixel and identity losses keep their gradients; clip for display.

Common attributes of SR nets: ``scale`` (output side / input side) and
``input_multiple`` (input height and width must be multiples of it).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from lrfr_tf.models.model_registry import SR_NETS

_PACKAGE = "lrfr_tf"


def to_unit_range(images):
    """[0, 255] -> [-1, 1]."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def from_unit_range(x):
    """[-1, 1] -> [0, 255], float32 (also under a mixed-precision policy).

    The offset is a per-channel vector, not a scalar: the TFLite converter folds a
    scalar add that follows a transposed conv into a 1-element bias, which the
    TRANSPOSE_CONV kernel rejects (and XNNPACK turns into NaN outputs).
    """
    return tf.cast(x, tf.float32) * 127.5 + tf.fill([x.shape[-1]], 127.5)


class ImageModel(keras.Model):
    """Base of the SR / hallucination nets: images [B, H, W, in_channels] in, built by running once.

    Subclasses set ``in_channels`` and ``input_multiple``. ``build(shape)`` creates
    every weight by calling the model on zeros of that shape (unknown sides become
    ``input_multiple``), so ``model.build((None, 112, 112, 3))`` works as for
    built-in layers.
    """

    in_channels = 3
    input_multiple = 1

    def build(self, input_shape):
        shape = [1 if input_shape[0] is None else input_shape[0]]
        shape += [self.input_multiple if d is None else d for d in input_shape[1:3]] + [self.in_channels]
        self.call(tf.zeros(shape, tf.float32))

    def check_input_size(self, shape):
        """Raise a clear error when an input's shape does not suit the net."""
        if len(shape) != 4 or shape[-1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects [B, H, W, {self.in_channels}] images, got shape {tuple(shape)}"
            )
        for side in shape[1:3]:
            if side is not None and side % self.input_multiple:
                raise ValueError(
                    f"{type(self).__name__}: input height and width must be multiples of {self.input_multiple}, "
                    f"got shape {tuple(shape)}"
                )


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SRNet(ImageModel):
    """FSRCNN: feature extraction, shrinking, mapping, expanding, deconvolution.

    conv5x5(d) -> 1x1 shrink (s) -> ``num_mapping`` x conv3x3(s) -> 1x1 expand (d)
    -> 9x9 transposed conv with stride ``scale``; a PReLU (one slope per channel)
    follows every conv but the last (Dong et al. 2016). Input [B, h, w, 3] -> output [B, h*scale, w*scale, 3].

    Args:
      scale: integer upscaling factor.
      features: d, channels of feature extraction and expansion.
      shrink: s, channels of the mapping layers.
      num_mapping: m, number of 3x3 mapping convs.
      channels: image channels.
      residual: add the bilinearly upscaled input to the output, so the net
        starts from the interpolated image and learns only the residual (a
        common variant; the paper's FSRCNN is ``residual=False``).
    """

    def __init__(
        self,
        scale: int = 4,
        features: int = 56,
        shrink: int = 12,
        num_mapping: int = 4,
        channels: int = 3,
        residual: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(scale) != scale or int(scale) < 1:
            raise ValueError(f"SRNet scale must be a positive integer, got {scale}")
        self.scale = int(scale)
        self.features, self.shrink, self.num_mapping = int(features), int(shrink), int(num_mapping)
        self.channels = self.in_channels = int(channels)
        self.residual = bool(residual)
        self.input_multiple = 1

        def conv(filters, size, name):
            return keras.layers.Conv2D(filters, size, padding="same", kernel_initializer="he_normal", name=name)

        def prelu(name):
            slope = keras.initializers.Constant(0.25)
            return keras.layers.PReLU(shared_axes=[1, 2], alpha_initializer=slope, name=name)

        specs = [(self.features, 5, "extract"), (self.shrink, 1, "shrink")]
        specs += [(self.shrink, 3, f"map{i}") for i in range(self.num_mapping)]
        specs += [(self.features, 1, "expand")]
        self.convs = [conv(f, k, name) for f, k, name in specs]
        self.activations = [prelu(f"{name}_prelu") for _, _, name in specs]
        self.deconv = keras.layers.Conv2DTranspose(
            self.channels,
            9,
            strides=self.scale,
            padding="same",
            kernel_initializer=keras.initializers.RandomNormal(stddev=1e-3),
            name="deconv",
        )
        self.upsample = keras.layers.UpSampling2D(self.scale, interpolation="bilinear", name="upsample")

    def call(self, images):
        self.check_input_size(images.shape)
        x = to_unit_range(images)
        y = x
        for conv, act in zip(self.convs, self.activations):
            y = act(conv(y))
        y = self.deconv(y)
        if self.residual:
            y = y + self.upsample(x)
        return from_unit_range(y)

    def get_config(self):
        config = super().get_config()
        config.update(
            scale=self.scale,
            features=self.features,
            shrink=self.shrink,
            num_mapping=self.num_mapping,
            channels=self.channels,
            residual=self.residual,
        )
        return config


SR_NETS.register("srnet")(SRNet)
