"""Small embedders and models shared by the tests in tests/eval (import as ``from eval_helpers import ...``)."""

from __future__ import annotations

import zlib

import keras
import numpy as np

from lrfr_tf.eval.embedders import Embedder
from lrfr_tf.preprocessing import ARCFACE


class FnEmbedder(Embedder):
    """Embeds normalised images with a NumPy function; counts the images it was asked to embed."""

    kind = "function"

    def __init__(self, fn, name="fn", batch_size=16, flip=None):
        super().__init__(name, ARCFACE, "argument", flip, batch_size)
        self.fn = fn
        self.rows_embedded = 0

    @property
    def model_hash(self):
        return f"fn:{self.name}"

    def embed(self, images):
        self.rows_embedded += len(images)
        return super().embed(images)

    def _infer(self, x):
        return self.fn(x)


def content_random(x, dim=64):
    """A random embedding per distinct input (seeded by the input's bytes): a model that knows nothing."""
    return np.stack([np.random.default_rng(zlib.crc32(row.tobytes())).normal(size=dim) for row in x])


def tiny_model(seed=0, flat=True, size=112):
    """A small functional Keras model: stride-4 conv, global pooling (if ``flat``), dense -> 8-d."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(4, 3, strides=4, activation="relu")(inp)
    if flat:
        x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(8)(x)
    return keras.Model(inp, out, name=f"tiny{seed}")
