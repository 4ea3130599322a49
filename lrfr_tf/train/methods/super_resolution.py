"""Super-resolution + recognition: an SR net restores the LR face, a recognizer embeds the result.

Loss terms (per example):
  ``pixel``     L_pix = mean ((SR - HR) / 255)^2                 (``losses.pixel``)
  ``identity``  L_id  = d(phi(SR), phi(HR)), phi frozen, d = ``sr.identity_distance``: 1 - cos, the MSE of
                the embeddings, or of the L2-normalised ones ((2 - 2 cos) / D)   (``losses.identity``)
  ``ce``        margin-softmax cross-entropy of the recognizer on SR faces
  ``ce_hr``     the same on the HR faces (recognizer pre-training)

LR faces: ``data.degrade`` applied at the image size (bicubic down/up, as the evaluation harness
does), then area-resized to the SR net's input size (image size / ``sr_net.scale``).
Recipes: ``sl_margin`` (SRnet + SphereFace, three stages), ``ip_unet`` (U-Net, normalised-embedding MSE + 5 * pixel).
"""

from __future__ import annotations

from typing import Dict

import keras
import tensorflow as tf

from lrfr_tf.models.super_resolved import SuperResolvedEmbedder, resize_to, sr_output
from lrfr_tf.train import views
from lrfr_tf.train.method import (METHODS, Method, build_model, create_backbone, create_head, create_loss,
                                  flip_augment, import_components, initialize_backbone, per_example)


def create_sr_net(sr_config, image_size):
    """The SR net of ``sr_config`` (name, kwargs), built for outputs of ``image_size``; and its input size."""
    from lrfr_tf.models.model_registry import create_sr_net as create

    import_components()
    net = create(sr_config.name, **sr_config.kwargs.to_dict())
    scale = int(getattr(net, "scale", 1))
    if any(s % scale for s in image_size):
        raise ValueError(f"image size {tuple(image_size)} is not divisible by the SR scale {scale} of {sr_config.name}")
    input_size = tuple(s // scale for s in image_size)
    net(tf.zeros([1, *input_size, 3], tf.float32))
    return net, input_size


@METHODS.register("super_resolution")
class SuperResolution(Method):
    """Models ``sr_net``, ``recognizer`` and (if ``model.head``) ``head``."""

    TERMS = ("pixel", "identity", "ce", "ce_hr")

    def __init__(self, config, num_classes: int):
        super().__init__(config, num_classes)
        spec = config.data.degrade
        if not spec:
            raise ValueError("data.degrade is empty: the super-resolution method needs an LR degradation spec")
        self.lr_view = views.lr_view(views.parse_degradation(spec), "lr")
        self.pixel = create_loss("pixel", norm=config.sr.pixel_norm)
        self.ce = create_loss("softmax_cross_entropy")
        self.identity = None

    @property
    def image_size(self):
        return tuple(self.config.data.image_size)

    def build_models(self) -> Dict[str, keras.Model]:
        recognizer = create_backbone(self.config.model, (*self.image_size, 3))
        sr_net, self.sr_input_size = create_sr_net(self.config.sr, self.image_size)
        models = {"sr_net": sr_net, "recognizer": recognizer}
        if self.config.model.head:
            models["head"] = create_head(self.config.model, self.num_classes, recognizer.embedding_dim)
        self.identity = create_loss("identity", recognizer=recognizer, distance=self.config.sr.identity_distance)
        return models

    def initialize(self, models) -> None:
        initialize_backbone(models["recognizer"], self.config.model)

    def embedding_model(self, models) -> keras.Model:
        model = SuperResolvedEmbedder(models["sr_net"], models["recognizer"], self.sr_input_size)
        return build_model(model, (*self.image_size, 3))

    def map_fn(self):
        flip = bool(self.config.data.flip)

        def fn(features, seed):
            s = tf.random.experimental.stateless_split(seed, 2)
            features = self.lr_view(flip_augment(features, s[0], flip), s[1])
            features["lr"] = resize_to(features["lr"][tf.newaxis], self.sr_input_size)[0]
            return features

        return fn

    def _super_resolve(self, models, batch, trainable):
        return tf.cast(sr_output(models["sr_net"], batch["lr"], training="sr_net" in trainable), tf.float32)

    def _ce(self, models, images, labels, trainable):
        recognizer = models["recognizer"]
        if "head" not in models:
            raise ValueError("loss 'ce'/'ce_hr' needs a classification head: set model.head")
        x = recognizer.preprocessing.normalize(resize_to(images, recognizer.preprocessing.size, "bicubic"))
        embeddings = recognizer(x, training="recognizer" in trainable)
        logits = models["head"](embeddings, labels, training="head" in trainable)
        return per_example(self.ce, labels, logits)

    def loss_terms(self, models, batch, trainable, needed):
        terms = {}
        hr = batch["image"]
        if {"pixel", "identity", "ce"} & set(needed):
            sr = self._super_resolve(models, batch, trainable)
            if "pixel" in needed:
                terms["pixel"] = per_example(self.pixel, hr, sr)
            if "identity" in needed:
                terms["identity"] = per_example(self.identity, hr, sr)
            if "ce" in needed:
                terms["ce"] = self._ce(models, sr, batch["label"], trainable)
        if "ce_hr" in needed:
            terms["ce_hr"] = self._ce(models, hr, batch["label"], trainable)
        return terms

    def summary_images(self, models, batch):
        sr = self._super_resolve(models, batch, trainable=())
        return {"lr_input": resize_to(batch["lr"], self.image_size, "nearest"), "sr_output": sr, "hr_target": batch["image"]}
