"""The super-resolved recognizer: an SR (or hallucination) net, then a recognizer, as one embedding model."""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import tensorflow as tf

from lrfr_tf.models.layers import zeros_input
from lrfr_tf.preprocessing import Preprocessing


def sr_output(sr_net, images, training=None):
    """[0, 255] SR images from an SR net that returns a tensor or a dict with ``"sr"``."""
    out = sr_net(images, training=training) if _takes_training(sr_net) else sr_net(images)
    return out["sr"] if isinstance(out, dict) else out


def _takes_training(model) -> bool:
    import inspect

    return "training" in inspect.signature(model.call).parameters


def resize_to(images, size: Optional[Sequence[int]], method: str = "area"):
    """Resize [B, H, W, C] to ``size`` (h, w) unless it already has it."""
    if size is None or tuple(images.shape[1:3]) == tuple(size):
        return images
    return tf.image.resize(images, tuple(size), method=method, antialias=method != "area")


@keras.saving.register_keras_serializable(package="lrfr_tf")
class SuperResolvedEmbedder(keras.Model):
    """normalised face -> [0, 255] -> resize to the SR input -> SR -> recognizer embedding.

    Takes what a ``KerasEmbedder`` feeds (images normalised with ``preprocessing``, the
    recognizer's contract), so the evaluation harness degrades faces at 112 px as for any model;
    the SR net sees them area-resized to its input size ``sr_input_size``.
    """

    def __init__(self, sr_net, recognizer, sr_input_size: Optional[Sequence[int]] = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(sr_net, dict):
            sr_net = keras.saving.deserialize_keras_object(sr_net)
        if isinstance(recognizer, dict):
            recognizer = keras.saving.deserialize_keras_object(recognizer)
        self.sr_net = sr_net
        self.recognizer = recognizer
        self.sr_input_size = None if sr_input_size is None else [int(s) for s in sr_input_size]

    @property
    def preprocessing(self) -> Preprocessing:
        return self.recognizer.preprocessing

    @property
    def embedding_dim(self) -> int:
        return self.recognizer.embedding_dim

    def build(self, input_shape):
        """Build the SR net and the recognizer by one pass on zeros (faster than Keras' symbolic trace)."""
        self.call(zeros_input(input_shape, self.preprocessing.size))

    def call(self, x, training=None):
        pre = self.preprocessing
        images = tf.cast(x, tf.float32) / pre.scale + pre.mean
        if pre.channels == "BGR":
            images = images[..., ::-1]
        sr = sr_output(self.sr_net, resize_to(images, self.sr_input_size), training=False)
        sr = resize_to(tf.clip_by_value(tf.cast(sr, tf.float32), 0.0, 255.0), pre.size, pre.resize_method)
        return self.recognizer(pre.normalize(sr), training=False)

    def get_config(self):
        return {**super().get_config(), "sr_net": keras.saving.serialize_keras_object(self.sr_net),
                "recognizer": keras.saving.serialize_keras_object(self.recognizer),
                "sr_input_size": self.sr_input_size}
