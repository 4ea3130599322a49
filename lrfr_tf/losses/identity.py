"""Identity loss: distance between a frozen recognizer's embeddings of SR and HR faces."""

from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

from lrfr_tf.losses.distance import cosine_distance
from lrfr_tf.losses.loss_registry import LOSSES
from lrfr_tf.preprocessing import Preprocessing

_PACKAGE = "lrfr_tf"
_DISTANCES = ("cosine", "l2", "normalized_mse")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class IdentityLoss(keras.losses.Loss):
    """L_id = d(phi(SR), phi(HR)) for a frozen face recognizer phi.

      cosine: 1 - cos(phi(SR), phi(HR))          l2: 1/D ||phi(SR) - phi(HR)||^2
      normalized_mse: 1/D ||n(phi(SR)) - n(phi(HR))||^2 = (2 - 2 cos(phi(SR), phi(HR))) / D,
        n = L2 normalisation: the mean squared error of the embeddings as the recognizer compares them

    ``y_true`` / ``y_pred``: HR / SR images, float32 RGB in [0, 255] (the lrfr_tf
    image convention). Both are resized to ``preprocessing.size`` (with its
    ``resize_method``) when their size differs, normalised with the recognizer's
    ``Preprocessing`` and embedded with ``training=False`` (frozen batch-norm
    statistics). No gradient flows through the HR embedding; the recognizer's
    weights must not be given to the optimizer.

    ``get_config`` holds the recognizer's architecture (like any Keras config),
    not its weights: restore those from the recognizer's own checkpoint.

    Args:
      recognizer: Keras model mapping normalised faces to embeddings.
      preprocessing: its input contract; defaults to ``recognizer.preprocessing``.
      distance: "cosine", "l2" or "normalized_mse".
    """

    def __init__(
        self,
        recognizer,
        preprocessing: Optional[Preprocessing] = None,
        distance: str = "cosine",
        name: str = "identity",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if distance not in _DISTANCES:
            raise ValueError(f"distance must be one of {_DISTANCES}, got {distance!r}")
        if isinstance(recognizer, dict):
            recognizer = keras.saving.deserialize_keras_object(recognizer)
        if isinstance(preprocessing, dict):
            preprocessing = Preprocessing.from_config(preprocessing)
        if preprocessing is None:
            preprocessing = getattr(recognizer, "preprocessing", None)
        if not isinstance(preprocessing, Preprocessing):
            raise ValueError(
                f"IdentityLoss needs the recognizer's Preprocessing: pass preprocessing= or give "
                f"{type(recognizer).__name__} a .preprocessing attribute"
            )
        self.recognizer = recognizer
        self.preprocessing = preprocessing
        self.distance = distance

    def embed(self, images):
        """Recognizer embeddings of [0, 255] RGB images (resized and normalised as the recognizer expects)."""
        size = tuple(self.preprocessing.size)
        if tuple(images.shape[1:3]) != size:
            images = tf.image.resize(images, size, method=self.preprocessing.resize_method)
        return tf.cast(self.recognizer(self.preprocessing.normalize(images), training=False), tf.float32)

    def call(self, y_true, y_pred):
        sr = self.embed(tf.cast(y_pred, tf.float32))
        hr = tf.stop_gradient(self.embed(tf.stop_gradient(tf.cast(y_true, tf.float32))))
        if self.distance == "cosine":
            return cosine_distance(hr, sr)
        if self.distance == "normalized_mse":
            sr = tf.math.l2_normalize(sr, axis=-1, epsilon=1e-12)
            hr = tf.math.l2_normalize(hr, axis=-1, epsilon=1e-12)
        return tf.reduce_mean(tf.square(sr - hr), axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "recognizer": keras.saving.serialize_keras_object(self.recognizer),
            "preprocessing": self.preprocessing.get_config(),
            "distance": self.distance,
        }


LOSSES.register("identity")(IdentityLoss)
