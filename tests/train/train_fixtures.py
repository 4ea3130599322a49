"""Tiny models and configs for the training-engine tests (seconds per run on a CPU)."""

from __future__ import annotations

import pathlib

import keras
import numpy as np

from lrfr_tf.models.model_registry import BACKBONES
from lrfr_tf.preprocessing import ARCFACE, Preprocessing
from lrfr_tf.train import defaults as D

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE_CELEBA = str(REPO / "lrfr_tf" / "data" / "sample" / "celeba")


@keras.saving.register_keras_serializable(package="lrfr_tf_tests")
class TinyBackbone(keras.Model):
    """Two strided convolutions, global pooling, a dense embedding (optional BatchNorm)."""

    def __init__(self, embedding_dim: int = 16, batch_norm: bool = False, preprocessing=None, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = int(embedding_dim)
        self.batch_norm = bool(batch_norm)
        self.preprocessing = Preprocessing.from_config(preprocessing) if isinstance(preprocessing, dict) else (preprocessing or ARCFACE)
        self.conv1 = keras.layers.Conv2D(8, 5, strides=4, activation="relu")
        self.conv2 = keras.layers.Conv2D(16, 3, strides=4, activation="relu")
        self.bn = keras.layers.BatchNormalization() if self.batch_norm else None
        self.fc = keras.layers.Dense(self.embedding_dim)

    def call(self, x, training=None):
        x = self.conv2(self.conv1(x))
        if self.bn is not None:
            x = self.bn(x, training=training)
        x = keras.ops.mean(x, axis=(1, 2))
        return keras.ops.cast(self.fc(x), "float32")

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim, "batch_norm": self.batch_norm,
                "preprocessing": self.preprocessing.get_config()}


if "tiny_test" not in BACKBONES:
    BACKBONES.register("tiny_test")(TinyBackbone)


def tiny_config(steps: int = 4, batch_size: int = 8, head: str = "softmax", method: str = "classifier", **extra):
    """A classifier config on the embedded CelebA sample with the tiny backbone; evaluation off."""
    config = D.base_config("tiny", method=method)
    config.data.train = SAMPLE_CELEBA
    config.data.batch_size = batch_size
    config.model.backbone = "tiny_test"
    config.model.embedding_dim = 16
    config.model.backbone_kwargs = {}
    config.model.head = head
    config.model.head_kwargs = {}
    config.stages.train = D.stage(steps, main=D.update(["backbone", "head"], {"ce": 1.0},
                                                       D.optimizer("sgd", lr=0.05, momentum=0.9, weight_decay=5e-4)))
    config.checkpoint.every = 1
    config.log.progress = False
    config.log.every = 1
    config.eval.enabled = False
    for key, value in extra.items():
        config.set_path(key.replace("__", "."), value)
    return config


def weights_of(trainer) -> dict:
    return {f"{name}/{i}/{w.name}": np.array(w.numpy()) for name, m in trainer.models.items() for i, w in enumerate(m.weights)}


def first_batch(dataset) -> dict:
    return {k: v.numpy() for k, v in next(iter(dataset)).items()}


def assert_same_weights(a: dict, b: dict, atol: float = 0.0):
    assert a.keys() == b.keys()
    for k in a:
        if atol:
            np.testing.assert_allclose(a[k], b[k], atol=atol, rtol=0, err_msg=k)
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
