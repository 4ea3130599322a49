"""RIM: face hallucination (FHN) + heterogeneous recognition (HRN) with MK-MMD and residual distillation.

Models:
  ``fhn``            coarse SR + tri-path generator (``models.hallucination``, "rim_fhn"): LR face
                     (bicubic down/up at the image size) -> SR face, landmark heatmaps, parsing logits
  ``discriminator``  mix-adversarial discriminator ("rim_discriminator"): integrated features + domain logit
  ``hrn``            student + teacher assistant (``models.residual_assisted.ResidualAssistedStudent``);
                     inference embedding S_K + A_K of the hallucinated face
  ``teacher``        frozen HR recognizer (the imported MobileFaceNet or an IResNet-50), sees the HR face

Loss terms (per example unless noted):
  ``pixel``              pixel MSE of the SR and the coarse SR against HR
  ``heatmap``            landmark-heatmap MSE (targets: each face's 5 face-mesh landmarks through the same
                         flip, ``train.prior_targets``; the template's where the mesh finds no face)
  ``parsing``            parsing-map cross-entropy (targets: face-mesh parsing, ``train.prior_targets``);
                         images where the mesh finds no face have weight 0
  ``adv_g`` / ``adv_d``  domain logit BCE: generator wants SR judged HR; discriminator separates them
  ``mmd_g`` / ``mmd_d``  MK-MMD^2 between the discriminator features of HR and SR faces (scalar):
                         the generator minimises it, the discriminator maximises it (``mmd_d = -MMD``)
  ``distill_student`` / ``distill_assistant``  residual distillation of the teacher (scalars)
  ``ce``                 optional margin-softmax cross-entropy of the HRN embedding (needs ``model.head``)
"""

from __future__ import annotations

import logging
from typing import Dict

import keras
import tensorflow as tf

from lrfr_tf.data.degrade import RandomFlip, flip_horizontal
from lrfr_tf.models.super_resolved import SuperResolvedEmbedder
from lrfr_tf.train import prior_targets, views
from lrfr_tf.train.config import Config
from lrfr_tf.train.method import (METHODS, Method, build_model, create_backbone, create_head, create_loss,
                                  import_components, initialize_backbone, per_example)
from lrfr_tf.train.methods.super_resolution import create_sr_net

logger = logging.getLogger(__name__)


def _weight_of(config, term: str) -> float:
    """Largest weight of ``term`` in any update of any stage (0 where no update has it)."""
    weights = [float(w) for s in config.stages.values() for u in s.updates.values() for t, w in u.losses.items()
               if t == term]
    return max(weights, default=0.0)


@METHODS.register("rim")
class RIM(Method):
    TERMS = ("pixel", "heatmap", "parsing", "adv_g", "adv_d", "mmd_g", "mmd_d", "distill_student",
             "distill_assistant", "ce")

    def __init__(self, config, num_classes: int):
        super().__init__(config, num_classes)
        rim = config.rim
        self.image_size = tuple(config.data.image_size)
        self.lr_view = views.lr_view(views.parse_degradation(config.data.degrade), "lr")
        self.prior_size = tuple(s // 2 for s in self.image_size)  # the FHN predicts priors at stride 2
        self.parser = None
        if _weight_of(config, "parsing") > 0 or _weight_of(config, "heatmap") > 0:  # both priors: the face mesh
            mesh_model = prior_targets.find_face_mesh_model(rim.face_mesh)
            self.parser = prior_targets.FaceMeshParser(mesh_model, self.prior_size)
        if _weight_of(config, "parsing") <= 0:
            logger.warning("RIM: the parsing-prior loss is disabled (weight 0 in every stage): the FHN's parsing "
                           "path gets no supervision")
        self.pixel = create_loss("pixel", norm="l2")
        self.heatmap = create_loss("heatmap_mse")
        self.parsing = create_loss("parsing_ce")
        self.mmd = create_loss("mk_mmd", **rim.mmd_kwargs.to_dict())
        self.distill = create_loss("residual_distillation", block_weights=list(rim.block_weights) or None)
        self.ce = create_loss("softmax_cross_entropy")
        self.heatmap_sigma = float(rim.heatmap_sigma)

    def build_models(self) -> Dict[str, keras.Model]:
        import_components()
        from lrfr_tf.models.residual_assisted import ResidualAssistedStudent

        shape = (*self.image_size, 3)
        fhn, _ = create_sr_net(Config(name=self.config.rim.fhn, kwargs=self.config.rim.fhn_kwargs), self.image_size)
        disc, _ = create_sr_net(Config(name=self.config.rim.discriminator, kwargs=self.config.rim.discriminator_kwargs),
                                self.image_size)
        teacher = create_backbone(self.config.rim.teacher, shape)
        teacher.trainable = False
        student = create_backbone(self.config.model, shape)
        assistant = create_backbone(self._assistant_config(), shape)
        x = tf.zeros([1, *shape])
        t_emb, t_blocks = teacher.call_with_blocks(x, training=False)
        s_emb, s_blocks = student.call_with_blocks(x, training=False)
        same_blocks = len(t_blocks) == len(s_blocks) and all(t.shape == b.shape for t, b in zip(t_blocks, s_blocks))
        mode = self.config.rim.distill_blocks
        if mode not in ("auto", "all", "embedding"):
            raise ValueError(f"rim.distill_blocks must be auto, all or embedding, got {mode!r}")
        if mode == "all" and not same_blocks:
            raise ValueError(f"rim.distill_blocks=all needs teacher and student blocks of equal shapes: teacher "
                             f"{[tuple(t.shape) for t in t_blocks]}, student {[tuple(b.shape) for b in s_blocks]}")
        self.all_blocks = same_blocks and mode != "embedding"
        if not self.all_blocks:
            logger.warning("RIM: distilling the embedding only (teacher blocks %s, student blocks %s)",
                           [tuple(t.shape[1:]) for t in t_blocks], [tuple(b.shape[1:]) for b in s_blocks])
        t_dim, s_dim = int(t_emb.shape[-1]), int(s_emb.shape[-1])
        hrn = ResidualAssistedStudent(student, assistant, teacher_embedding_dim=None if t_dim == s_dim else t_dim)
        hrn(x, training=False)
        models = {"fhn": fhn, "discriminator": disc, "hrn": hrn, "teacher": teacher}
        if self.config.model.head:
            models["head"] = create_head(self.config.model, self.num_classes, hrn.embedding_dim)
        return models

    def _assistant_config(self) -> Config:
        """The assistant's backbone config: the student's (``rim.assistant_init`` "model") or the same backbone
        from scratch ("": no ``init``; e.g. the registry's MobileFaceNet beside a student imported from a .tflite,
        whose blocks have the same shapes)."""
        mode = self.config.rim.assistant_init
        if mode not in ("model", ""):
            raise ValueError(f"config rim.assistant_init must be 'model' (as the student) or '' (from scratch), "
                             f"got {mode!r}")
        if mode == "model":
            return self.config.model
        return Config(**{**self.config.model.to_dict(), "init": ""})

    def initialize(self, models) -> None:
        initialize_backbone(models["teacher"], self.config.rim.teacher)
        initialize_backbone(models["hrn"].student, self.config.model)
        initialize_backbone(models["hrn"].assistant, self._assistant_config())

    def embedding_model(self, models) -> keras.Model:
        return build_model(SuperResolvedEmbedder(models["fhn"], models["hrn"], None), (*self.image_size, 3))

    def ablation_models(self, models) -> Dict[str, keras.Model]:
        """``student``: the hallucinated probe through the student alone (S_K, no assistant): the paper's
        ablation of the residual assistant (issue 15's claim S3), on the same weights."""
        hrn = models["hrn"]
        if hrn.student_adapter is not None:  # S_K lives in the student's own space: still a valid embedder
            logger.info("RIM ablation 'student': the student's own %d-d embedding (no adapter)", hrn.student.embedding_dim)
        return {"student": build_model(SuperResolvedEmbedder(models["fhn"], hrn.student, None), (*self.image_size, 3))}

    # Data -------------------------------------------------------------------------------------------
    def map_fn(self):
        flip = bool(self.config.data.flip)
        template = tf.constant(prior_targets.template_landmarks(self.image_size))
        width = self.image_size[1]

        def fn(features, seed):
            s = tf.random.experimental.stateless_split(seed, 2)
            image = features["image"]
            out = dict(features)
            landmarks = template  # the five points of every face only when no prior uses the mesh
            if self.parser is not None:
                out["parsing"], landmarks, out["parsing_valid"] = self.parser.tf_parse(image, features["index"])
            if flip:  # one decision for the image and every prior
                do = RandomFlip(0.5).draw(s[0])
                out["image"] = tf.cond(do, lambda: flip_horizontal(image), lambda: image)
                unflipped = landmarks
                landmarks = tf.cond(do, lambda: prior_targets.flip_landmarks(unflipped, width), lambda: unflipped)
                if self.parser is not None:
                    p = out["parsing"]  # [h, w] class map
                    out["parsing"] = tf.cond(do, lambda: flip_horizontal(p[..., None])[..., 0], lambda: p)
            out["landmarks"] = landmarks
            return self.lr_view(out, s[1])

        return fn

    # Losses -----------------------------------------------------------------------------------------
    def loss_terms(self, models, batch, trainable, needed):
        needed = set(needed)
        hr, labels = batch["image"], batch["label"]
        fhn_out = models["fhn"](batch["lr"], training="fhn" in trainable)
        sr = tf.cast(fhn_out["sr"], tf.float32)
        terms = {}
        if "pixel" in needed:
            terms["pixel"] = per_example(self.pixel, hr, sr) + per_example(self.pixel, hr, fhn_out["coarse"])
        if "heatmap" in needed:
            pred = fhn_out["heatmaps"]
            from lrfr_tf.losses.prior_losses import render_landmark_heatmaps

            target = render_landmark_heatmaps(batch["landmarks"], tuple(pred.shape[1:3]), self.heatmap_sigma,
                                              image_size=self.image_size)
            terms["heatmap"] = per_example(self.heatmap, target, pred)
        if "parsing" in needed:
            if "parsing" not in batch:
                raise ValueError("the parsing loss needs face-mesh parsing targets (config rim.face_mesh)")
            terms["parsing"] = per_example(self.parsing, batch["parsing"], fhn_out["parsing_logits"]) * batch["parsing_valid"]
        disc = models["discriminator"]
        if needed & {"adv_g", "mmd_g"}:
            d_hr, d_sr = disc(hr), disc(sr)
            if "adv_g" in needed:
                terms["adv_g"] = _bce(d_sr["domain_logits"], 1.0)
            if "mmd_g" in needed:
                terms["mmd_g"] = tf.cast(self.mmd.call(tf.stop_gradient(d_hr["features"]), d_sr["features"]), tf.float32)
        if needed & {"adv_d", "mmd_d"}:
            d_hr, d_sr = disc(hr), disc(tf.stop_gradient(sr))
            if "adv_d" in needed:
                terms["adv_d"] = _bce(d_hr["domain_logits"], 1.0) + _bce(d_sr["domain_logits"], 0.0)
            if "mmd_d" in needed:
                terms["mmd_d"] = -tf.cast(self.mmd.call(d_hr["features"], d_sr["features"]), tf.float32)
        if needed & {"distill_student", "distill_assistant", "ce"}:
            from lrfr_tf.models.residual_assisted import distillation_blocks

            hrn, teacher = models["hrn"], models["teacher"]
            t_blocks = distillation_blocks(teacher, teacher.preprocessing.normalize(hr), training=False)
            s_blocks, a_blocks = hrn.call_with_blocks(hrn.preprocessing.normalize(sr), training="hrn" in trainable)
            if not self.all_blocks:
                t_blocks, s_blocks, a_blocks = t_blocks[-1:], s_blocks[-1:], a_blocks[-1:]
            distill = self.distill(t_blocks, s_blocks, a_blocks)
            terms["distill_student"], terms["distill_assistant"] = distill["student"], distill["assistant"]
            if "ce" in needed:
                embedding = s_blocks[-1] + a_blocks[-1]
                logits = models["head"](embedding, labels, training="head" in trainable)
                terms["ce"] = per_example(self.ce, labels, logits)
        return terms

    def summary_images(self, models, batch):
        out = models["fhn"](batch["lr"], training=False)
        return {"lr_input": batch["lr"], "sr_output": out["sr"], "coarse_sr": out["coarse"], "hr_target": batch["image"]}


def _bce(logits, target: float) -> tf.Tensor:
    logits = tf.reshape(tf.cast(logits, tf.float32), [-1])
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), target), logits=logits)
