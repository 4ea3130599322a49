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

ReLU student by slope annealing (``distill.relu_anneal_steps`` = N > 0; for int8 edge targets, where PReLU runs
outside XNNPACK): the student keeps the pretrained PReLU network, its slopes frozen and set before step s to
a_0 * max(0, 1 - s / N) (a_0 the slopes of the initialised student), so it starts as the teacher's function and
is a ReLU network from step N on; it is then exported as its ReLU build (``layers.relu_copy``). Replacing PReLU by
ReLU at step 0 instead (``model.backbone_kwargs.activation=relu``) starts far from the teacher (cosine ~0.06).
"""

from __future__ import annotations

from typing import Dict

import keras
import numpy as np
import tensorflow as tf

from lrfr_tf.models.layers import prelu_layers, relu_copy
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
        self.anneal_steps = int(config.distill.relu_anneal_steps)
        self._initial_slopes = None
        self._slope_factor = None
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
        if self.anneal_steps:
            slopes = prelu_layers(student)
            if not slopes:
                raise ValueError("distill.relu_anneal_steps needs a student with PReLU activations, not "
                                 f"{student.get_config().get('activation')!r} (model.backbone_kwargs.activation)")
            for layer in slopes:
                layer.trainable = False  # set by on_step
        models = {"student": student, "teacher": teacher}
        if self.config.model.head:
            models["head"] = create_head(self.config.model, self.num_classes, student.embedding_dim)
        return models

    def initialize(self, models) -> None:
        initialize_backbone(models["student"], self.config.model)
        initialize_backbone(models["teacher"], self.config.distill.teacher)
        if self.anneal_steps:
            self._initial_slopes = [layer.get_weights()[0] for layer in prelu_layers(models["student"])]

    def embedding_model(self, models) -> keras.Model:
        if self.anneal_steps and self._slope_factor == 0.0:
            return relu_copy(models["student"])
        return models["student"]

    def slope_factor(self, step: int) -> float:
        """The fraction of the pretrained PReLU slopes the student runs step ``step`` with."""
        return max(0.0, 1.0 - step / self.anneal_steps) if self.anneal_steps else 1.0

    def on_step(self, models, step: int) -> None:
        if not self.anneal_steps:
            return
        factor = self.slope_factor(step)
        if factor == self._slope_factor:
            return
        if self._initial_slopes is None:  # resumed: initialise a copy (slopes are never trained; needs model.init)
            fresh = create_backbone(self.config.model, (*self.config.data.image_size, 3))
            initialize_backbone(fresh, self.config.model)
            self._initial_slopes = [layer.get_weights()[0] for layer in prelu_layers(fresh)]
        for layer, alpha in zip(prelu_layers(models["student"]), self._initial_slopes):
            layer.set_weights([alpha * np.float32(factor)])
        self._slope_factor = factor

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
