"""Distill: label-free distillation of a frozen high-resolution teacher into a low-resolution-robust student.

Method (``lrfr_tf.train.methods.distill``): the teacher (the pretrained MobileFaceNet, imported from its
.tflite with BatchNorm folded, frozen) embeds the clean 112 px face; the student, initialised from the same
model, embeds the clean face and a degraded copy (the camera model below); loss = (1 - cos) between the
teacher's HR embedding and each of the student's two embeddings, equal weights. No identity labels are
needed, so every aligned face can train it (identity folders are read, their labels unused unless ``ce``
is weighted with a ``model.head``).

Degraded view: optical blur sigma ~ U[0.3, 1.2] px, a size drawn uniformly from 5-112 px, shot and read
noise, JPEG quality 40-95, bicubic back up to 112 px. The student is imported without BatchNorm
(``model.init_batch_norm=False``): with BatchNorm layers initialised to identity and run in training mode the
imported network is not the pretrained function at step 0 (batch statistics replace the folded ones).

This is not one paper's method: embedding distillation from an HR teacher to an LR student is the common
core of e.g. Ge et al. (selective knowledge distillation, IEEE TIP 2019) and Zhu et al. 2019 (low-resolution
visual recognition via deep feature distillation, ICASSP), here without their feature-level terms.

Data: ../shared/data/celeba/aligned112, the "train" side of the fixed identity split (``data.identities``,
``lrfr_tf.data.splits``: 241 identities, 5,001 faces; the other 58 test identification); tuning on LFW View 1
(``pairsDevTest.txt``), never View 2. 600 steps of 64 faces (38,400 faces, 7.7 epochs) take about 65 minutes
on 2 CPU cores.

Command: python -m lrfr_tf.train --recipe=distill --workdir=runs/distill
Smoke:   python -m lrfr_tf.train --recipe=distill --config.scale=smoke

Expected (measured, 2026-12-03, this config, 600 steps in about 65 min on 2 CPU cores): LFW View 1
(pairsDevTest.txt, 10 interleaved folds) 112 px 98.80%, CR 8 px 82.60%, CR 12 px 89.55%, CR 16 px 93.60%,
CR 28 px 97.85%. The issue's 12-minute probe (150 steps, sizes 6-112 px without camera noise) reached LFW View 2
low_res_focus 80.04% (teacher 58.45%) and 98.85% at 112 px (teacher 99.23%).
"""

from lrfr_tf.train import defaults as D

MOBILEFACENET = D.PRETRAINED_MOBILEFACENET
#: Sizes of the degraded view (px), uniform: 5-112 px, denser where the teacher fails.
SIZES = [5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 24, 28, 32, 40, 48, 56, 80, 112]
CAMERA_VIEW = (f"blur(0.3, 1.2)|resolution(sizes={SIZES})|poisson_noise(200, 2000)|gaussian_noise(0.5, 3)"
               "|jpeg(40, 95)|resize()")


def get_config():
    config = D.base_config("distill", method="distill")
    config.data.train = D.SHARED_CELEBA
    config.data.identities = "train"  # 241 of 299 identities; the 58 held out test identification
    config.data.batch_size = 64
    config.model.backbone = "mobilefacenet"
    config.model.embedding_dim = 192
    config.model.init = MOBILEFACENET
    config.model.init_batch_norm = False
    config.distill.views = [CAMERA_VIEW]
    config.distill.teacher = D.backbone_config(backbone="mobilefacenet", embedding_dim=192, init=MOBILEFACENET,
                                               init_batch_norm=False)
    config.stages.train = D.stage(600, main=D.update(
        ["student"], {"distill_hr": 1.0, "distill_lr": 1.0},
        D.optimizer("adam", lr=3e-4, schedule="cosine", warmup_steps=30)))
    config.checkpoint.every = 100
    config.log.every = 10
    config.eval.every = 300
    config.eval.data_dir = D.SHARED_LFW
    config.eval.pairs_file = "pairsDevTest.txt"  # LFW View 1: tuning; View 2 is test only
    config.eval.sizes = [8, 12, 16, 28]
    config.scales.smoke = {
        "data": {"train": D.SAMPLE_CELEBA, "batch_size": 4, "identities": "all"},
        "stages": {"train": {"steps": 2, "updates": {"main": {"optimizer": {"warmup_steps": 0}}}}},
        "checkpoint": {"every": 2},
        "log": {"every": 1},
        "eval": {"every": 0, "data_dir": D.SAMPLE_LFW, "pairs_file": "pairs.txt", "sizes": [8, 14]},
    }
    return config
