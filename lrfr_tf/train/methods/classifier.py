"""Margin-softmax classification training, optionally on degraded images.

* HR baseline (ArcFace, Deng et al. 2019, eq. 3): ``data.degrade = ""``.
* Batch training BT / BT-M (Knoche et al. 2021, Sec. 5.1): a fraction ``data.degrade_fraction``
  (0.5) of every batch degraded with ``data.degrade`` (one size for BT, sizes {7,14,28,56,112}
  for BT-M); the classification loss is the softmax cross-entropy over the head's logits.
"""

from __future__ import annotations

import tensorflow as tf

from lrfr_tf.train import views
from lrfr_tf.train.method import METHODS, RecognizerMethod, flip_augment, per_example


@METHODS.register("classifier")
class Classifier(RecognizerMethod):
    """Models ``backbone`` and ``head``; loss term ``ce``."""

    TERMS = ("ce",)

    def __init__(self, config, num_classes: int):
        super().__init__(config, num_classes)
        self.degradation = views.parse_degradation(config.data.degrade)
        self.fraction = float(config.data.degrade_fraction)
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"data.degrade_fraction must be in [0, 1], got {self.fraction}")

    def map_fn(self):
        flip = bool(self.config.data.flip)
        per_element = self.degradation is not None and self.fraction == 1.0

        degrade = views.lr_view(self.degradation, "image") if per_element else None

        def fn(features, seed):
            s = tf.random.experimental.stateless_split(seed, 2)
            features = flip_augment(features, s[0], flip)
            return degrade(features, s[1]) if degrade is not None else features

        return fn

    def batch_map_fn(self):
        if self.degradation is None or self.fraction in (0.0, 1.0):
            return None

        return views.batch_mix(self.degradation, self.fraction)

    def loss_terms(self, models, batch, trainable, needed):
        backbone, head = models["backbone"], models["head"]
        x = backbone.preprocessing.normalize(batch["image"])
        embeddings = backbone(x, training="backbone" in trainable)
        logits = head(embeddings, batch["label"], training="head" in trainable)
        return {"ce": per_example(self.ce, batch["label"], logits)}
