"""Siamese training with a feature-distance loss between the HR image and degraded views of it.

* ST, ST-M1, ST-M2 (Knoche et al. 2021, Sec. 5.2): a shared backbone sees the HR image and
  ``siamese.views`` degraded copies (same flip); loss (eq. 7) = the SUM of the branch cross-entropies +
  w * cosine distance d(f(HR), f(LR)) = 1 - cos (eq. 6), w = 25 with two branches, 3 with five
  (``siamese.ce_reduction = "sum"`` in the st recipes).
* Multi-resolution augmentation + LogExp (``maug_logexp``): one LR branch whose size is drawn
  from 7/14/20 px at 1:1:2; the distance is the LogExp feature contrast (``losses.distance``).

Terms (per example): ``ce`` = the cross-entropies of the branches (``siamese.ce_branches``: every branch
or the HR one only) summed (``siamese.ce_reduction = "sum"``) or averaged (``"mean"``); ``distance`` =
mean over the LR branches of d(f(HR), f(LR_k)). With weights ``ce: 1, distance: w`` and two branches,
"sum" gives eq. 7, CE(HR) + CE(LR) + w d; "mean" gives (CE(HR) + CE(LR)) / 2 + w d, i.e. the distance
weighted twice as much relative to the cross-entropies.
"""

from __future__ import annotations

import tensorflow as tf

from lrfr_tf.train import views
from lrfr_tf.train.method import METHODS, RecognizerMethod, create_loss, per_example


@METHODS.register("siamese")
class Siamese(RecognizerMethod):
    """Models ``backbone`` and ``head``; loss terms ``ce`` and ``distance``."""

    TERMS = ("ce", "distance")

    def __init__(self, config, num_classes: int):
        super().__init__(config, num_classes)
        specs = list(config.siamese.views)
        if not specs:
            raise ValueError("siamese.views is empty: list one degradation spec per LR branch")
        if not all(specs):
            raise ValueError(f"siamese.views has an empty spec: {specs}")
        self.views = [views.lr_view(views.parse_degradation(s), f"lr{k}") for k, s in enumerate(specs)]
        self.distance = create_loss(config.siamese.distance, **config.siamese.distance_kwargs.to_dict())
        self.ce_branches = config.siamese.ce_branches
        if self.ce_branches not in ("all", "hr"):
            raise ValueError(f"siamese.ce_branches must be 'all' or 'hr', got {self.ce_branches!r}")
        self.ce_reduction = config.siamese.ce_reduction
        if self.ce_reduction not in ("sum", "mean"):
            raise ValueError(f"siamese.ce_reduction must be 'sum' or 'mean', got {self.ce_reduction!r}")

    def map_fn(self):
        return views.flipped_with_views(self.views, bool(self.config.data.flip))

    def loss_terms(self, models, batch, trainable, needed):
        backbone, head = models["backbone"], models["head"]
        branches = [batch["image"]] + [batch[f"lr{k}"] for k in range(len(self.views))]
        n = tf.shape(batch["image"])[0]
        x = backbone.preprocessing.normalize(tf.concat(branches, axis=0))
        embeddings = tf.split(backbone(x, training="backbone" in trainable), len(branches), axis=0)
        terms = {}
        if "ce" in needed:
            ce_inputs = embeddings if self.ce_branches == "all" else embeddings[:1]
            labels = tf.tile(batch["label"], [len(ce_inputs)])
            logits = head(tf.concat(ce_inputs, axis=0), labels, training="head" in trainable)
            per_branch = tf.reshape(per_example(self.ce, labels, logits), [len(ce_inputs), n])
            reduce = tf.reduce_sum if self.ce_reduction == "sum" else tf.reduce_mean
            terms["ce"] = reduce(per_branch, axis=0)
        if "distance" in needed:
            terms["distance"] = tf.add_n([per_example(self.distance, embeddings[0], e) for e in embeddings[1:]]) / float(len(self.views))
        return terms
