"""The exported serving graph: a client sends raw uint8 face crops, the graph does the rest.

Signatures (made with ``keras.export.ExportArchive``):
  ``serving_default`` = ``embed``: ``images`` uint8 [N, H, W, 3] (any H, W) -> ``embedding`` float32
      [N, D], L2-normalised;
  ``verify``: ``images_a``, ``images_b`` uint8 [N, H, W, 3] -> ``similarity`` float32 [N] (cosine);
  ``embed_float32``: ``images`` float32 [N, H, W, 3] RGB pixels in [0, 255] -> ``embedding``;
  ``embed_normalized``: ``images`` float32 [N, h, w, 3] already normalised at the model size ->
      ``embedding`` (the TFLite converter's and the evaluation harness's entry point).

In-graph preprocessing is the harness's (``Embedder._prepare``) with the same TF ops: the
``Preprocessing`` centre crop (``crop_box`` rounding), ``tf.image.resize`` with its method and
antialiasing when the size differs, clipping to [0, 255], ``(x - mean) * scale`` (BGR flip first).
"""

from __future__ import annotations

import tensorflow as tf

from lrfr_tf.preprocessing import Preprocessing

SIGNATURES = ("serving_default", "embed", "verify", "embed_float32", "embed_normalized")


def _centre_crop(x, pre: Preprocessing):
    """Dynamic-shape twin of ``Preprocessing.crop_box``: round(h * crop_h / aligned_h), at least 1."""
    if pre.crop is None:
        return x
    shape = tf.shape(x)
    h, w = shape[1], shape[2]
    ch = tf.maximum(1, tf.cast(tf.round(tf.cast(h, tf.float64) * pre.crop[0] / pre.aligned_size[0]), tf.int32))
    cw = tf.maximum(1, tf.cast(tf.round(tf.cast(w, tf.float64) * pre.crop[1] / pre.aligned_size[1]), tf.int32))
    return tf.slice(x, [0, (h - ch) // 2, (w - cw) // 2, 0], [-1, ch, cw, -1])


def pixels_to_input(pixels, pre: Preprocessing):
    """float32 RGB [N, H, W, 3] in [0, 255] -> the network input [N, h, w, 3]."""
    x = _centre_crop(tf.cast(pixels, tf.float32), pre)
    shape = tf.shape(x)
    same = tf.logical_and(tf.equal(shape[1], pre.size[0]), tf.equal(shape[2], pre.size[1]))
    x = tf.cond(same, lambda: x,
                lambda: tf.clip_by_value(tf.image.resize(x, pre.size, method=pre.resize_method, antialias=True), 0.0, 255.0))
    x = tf.ensure_shape(x, [None, *pre.size, 3])
    return pre.normalize(x)


def l2_normalize(x):
    return tf.math.l2_normalize(tf.cast(x, tf.float32), axis=-1, epsilon=1e-12)


def build_archive(model, pre: Preprocessing):
    """An ExportArchive tracking ``model`` (normalised input -> [N, D]) with the signatures above."""
    import keras

    def embed_input(x):
        return l2_normalize(model(x, training=False))

    def embed(images):
        return {"embedding": embed_input(pixels_to_input(images, pre))}

    def embed_normalized(images):
        return {"embedding": embed_input(images)}

    def verify(images_a, images_b):
        a = embed_input(pixels_to_input(images_a, pre))
        b = embed_input(pixels_to_input(images_b, pre))
        return {"similarity": tf.reduce_sum(a * b, axis=-1)}

    if not model.built:
        model(tf.zeros([1, *pre.size, 3]), training=False)
    pixels_u8 = tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", embed, input_signature=[pixels_u8])
    archive.add_endpoint("embed", embed, input_signature=[pixels_u8])
    archive.add_endpoint("verify", verify, input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images_a"),
                                                            tf.TensorSpec([None, None, None, 3], tf.uint8, name="images_b")])
    archive.add_endpoint("embed_float32", embed,  # the same graph on float pixels
                         input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])
    archive.add_endpoint("embed_normalized", embed_normalized,
                         input_signature=[tf.TensorSpec([None, *pre.size, 3], tf.float32, name="images")])
    return archive
