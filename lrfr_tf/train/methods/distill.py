"""Label-free embedding distillation from a frozen high-resolution teacher (the edge model's method).

Models: ``student`` (``config.model``; e.g. the pretrained MobileFaceNet imported from its .tflite,
``model.init``), ``teacher`` (``config.distill.teacher``, a ``backbone_config``, frozen: always run with
``training=False`` and no gradient) and, when ``config.model.head`` is set, a margin ``head`` on the identity
labels.

Views of each face (same flip): the clean face ``image`` and one degraded copy per ``distill.views`` spec
(``lrfr_tf.data.degrade``, back at the image size). The teacher sees only the clean face.

Terms (per example), with d = ``distill.distance`` (``1 - cos`` by default):
  distill_hr = d(t(HR), s(HR))                        keeps the teacher's high-resolution function;
  distill_lr = mean_k d(t(HR), s(LR_k))               pulls each degraded view onto the teacher's HR embedding;
  ce         = mean cross-entropy over the student's branches (needs ``model.head``).
All student branches run as one batch (one forward and backward pass).
"""

from __future__ import annotations

from typing import Dict

import keras
import tensorflow as tf

from lrfr_tf.train import views
from lrfr_tf.train.method import (METHODS, Method, create_backbone, create_head, create_loss,
                                  initialize_backbone, per_example)


@METHODS.register("distill")
class Distill(Method):
    """Models ``student``, ``teacher`` [, ``head``]; terms ``distill_hr``, ``distill_lr``, ``ce``."""

    TERMS = ("distill_hr", "distill_lr", "ce")

    def __init__(self, config, num_classes: int):
        super().__init__(config, num_classes)
        specs = list(config.distill.views)
        if not all(specs):
            raise ValueError(f"distill.views has an empty spec: {specs}")
        self.views = [views.lr_view(views.parse_degradation(s), f"lr{k}") for k, s in enumerate(specs)]
        self.distance = create_loss(config.distill.distance, **config.distill.distance_kwargs.to_dict())
        self.ce = None
        if config.model.head:
            self.ce = create_loss("softmax_cross_entropy", label_smoothing=float(config.model.label_smoothing))

    def build_models(self) -> Dict[str, keras.Model]:
        shape = (*self.config.data.image_size, 3)
        student = create_backbone(self.config.model, shape)
        teacher = create_backbone(self.config.distill.teacher, shape)
        teacher.trainable = False
        if teacher.embedding_dim != student.embedding_dim:
            raise ValueError(f"distill: the student's embedding size ({student.embedding_dim}, config model) differs "
                             f"from the teacher's ({teacher.embedding_dim}, config distill.teacher)")
        models = {"student": student, "teacher": teacher}
        if self.config.model.head:
            models["head"] = create_head(self.config.model, self.num_classes, student.embedding_dim)
        return models

    def initialize(self, models) -> None:
        initialize_backbone(models["student"], self.config.model)
        initialize_backbone(models["teacher"], self.config.distill.teacher)

    def embedding_model(self, models) -> keras.Model:
        return models["student"]

    def map_fn(self):
        return views.flipped_with_views(self.views, bool(self.config.data.flip))

    def loss_terms(self, models, batch, trainable, needed):
        student, teacher = models["student"], models["teacher"]
        branches = [batch["image"]] + [batch[f"lr{k}"] for k in range(len(self.views))]
        n = tf.shape(batch["image"])[0]
        target = tf.stop_gradient(teacher(teacher.preprocessing.prepare(batch["image"]), training=False))
        x = student.preprocessing.prepare(tf.concat(branches, axis=0))  # resized when the student's input is smaller
        embeddings = tf.split(student(x, training="student" in trainable), len(branches), axis=0)
        terms = {}
        if "distill_hr" in needed:
            terms["distill_hr"] = per_example(self.distance, target, embeddings[0])
        if "distill_lr" in needed:
            if not self.views:
                raise ValueError("loss term distill_lr needs at least one degraded view (distill.views)")
            terms["distill_lr"] = tf.add_n([per_example(self.distance, target, e) for e in embeddings[1:]]) / float(
                len(self.views))
        if "ce" in needed:
            if self.ce is None:
                raise ValueError("loss term ce needs a margin head: set model.head (e.g. arcface)")
            labels = tf.tile(batch["label"], [len(branches)])
            logits = models["head"](tf.concat(embeddings, axis=0), labels, training="head" in trainable)
            terms["ce"] = tf.reduce_mean(tf.reshape(per_example(self.ce, labels, logits), [len(branches), n]), axis=0)
        return terms
