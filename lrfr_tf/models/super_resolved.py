"""The super-resolved recognizer: an SR (or hallucination) net, then a recognizer, as one embedding model."""

from __future__ import annotations

import functools
from typing import Optional, Sequence

import keras
import numpy as np
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
    """Resize [B, H, W, C] to ``size`` (h, w) unless it already has it: ``tf.image.resize`` (antialiased unless
    ``method`` is "area"), computed as two matrix products when H and W are static.

    Every ``tf.image.resize`` method is linear and separable, so resizing is ``A_h @ X @ A_w^T`` with the
    [out, in] matrices of ``resize_matrix``. That graph has only Transpose, Reshape and rank-2 MatMul: TFLite
    runs it with builtin kernels (it has no ResizeArea, and no antialiased bicubic), and no rank-4 matmul
    reaches oneDNN (README, "Known platform issues")."""
    if size is None or tuple(images.shape[1:3]) == tuple(size):
        return images
    antialias = method != "area"
    h, w = images.shape[1:3]
    if h is None or w is None:
        return tf.image.resize(images, tuple(size), method=method, antialias=antialias)
    out_h, out_w = (int(s) for s in size)
    x = tf.cast(images, tf.float32)
    shape = tf.shape(x)
    batch, channels = shape[0], shape[3]
    x = tf.transpose(x, [0, 2, 3, 1])  # B W C H
    x = tf.matmul(tf.reshape(x, [-1, h]), resize_matrix(h, out_h, method, antialias), transpose_b=True)
    x = tf.transpose(tf.reshape(x, [batch, w, channels, out_h]), [0, 3, 2, 1])  # B h C W
    x = tf.matmul(tf.reshape(x, [-1, w]), resize_matrix(w, out_w, method, antialias), transpose_b=True)
    x = tf.transpose(tf.reshape(x, [batch, out_h, channels, out_w]), [0, 1, 3, 2])  # B h w C
    return tf.cast(x, images.dtype) if method == "nearest" else x


@functools.lru_cache(maxsize=64)
def _resize_matrix(in_size: int, out_size: int, method: str, antialias: bool) -> np.ndarray:
    with tf.init_scope():  # eager even while a graph is traced
        basis = tf.eye(in_size, dtype=tf.float32)[:, :, tf.newaxis, tf.newaxis]  # image i = unit vector i
        columns = tf.image.resize(basis, (out_size, 1), method=method, antialias=antialias)
        return np.ascontiguousarray(tf.cast(columns[:, :, 0, 0], tf.float32).numpy().T)


def resize_matrix(in_size: int, out_size: int, method: str = "area", antialias: bool = False) -> tf.Tensor:
    """The [out_size, in_size] matrix A with ``tf.image.resize`` of a column x equal to A @ x along one axis
    (the resize of the unit vectors: exact, whatever the kernel)."""
    return tf.constant(_resize_matrix(int(in_size), int(out_size), str(method), bool(antialias)))


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

    def gallery_model(self) -> keras.Model:
        """The gallery path: the recognizer alone, on the same normalised input. The papers embed the
        high-resolution gallery directly (SL-margin, the identity-preserving U-Net; RIM with its HR network),
        never through an SR net trained only on low-resolution input; the evaluation harness uses this path
        for every face it does not degrade (``lrfr_tf.eval.embedders``)."""
        return self.recognizer

    def get_config(self):
        return {**super().get_config(), "sr_net": keras.saving.serialize_keras_object(self.sr_net),
                "recognizer": keras.saving.serialize_keras_object(self.recognizer),
                "sr_input_size": self.sr_input_size}
