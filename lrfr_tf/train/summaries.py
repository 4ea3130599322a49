"""TensorBoard scalars and images written with TF's core summary op (no tensorboard package needed
to write; ``tensorboard --logdir WORKDIR/tensorboard`` reads them)."""

from __future__ import annotations

import tensorflow as tf
from tensorflow.core.framework import summary_pb2


def _metadata(plugin: str) -> bytes:
    meta = summary_pb2.SummaryMetadata()
    meta.plugin_data.plugin_name = plugin
    return meta.SerializeToString()


_SCALAR = _metadata("scalars")
_IMAGE = _metadata("images")


def scalar(name: str, value, step: int) -> None:
    tf.summary.write(name, tf.cast(value, tf.float32), step=step, metadata=_SCALAR)


def image(name: str, images, step: int, max_outputs: int = 4) -> None:
    """``images`` [N, H, W, C] in [0, 255] (clipped); stored as PNG like tf.summary.image."""
    images = tf.cast(tf.clip_by_value(tf.convert_to_tensor(images, tf.float32)[:max_outputs], 0.0, 255.0), tf.uint8)
    pngs = tf.map_fn(tf.image.encode_png, images, fn_output_signature=tf.string)
    shape = tf.shape(images)
    dims = tf.stack([tf.strings.as_string(shape[2]), tf.strings.as_string(shape[1])])
    tf.summary.write(name, tf.concat([dims, pngs], axis=0), step=step, metadata=_IMAGE)
