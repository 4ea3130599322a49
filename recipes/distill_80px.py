"""Distill (80 px student): the ``distill`` recipe with the student fed 80x80 faces, for cheaper cameras.

Why: issue 14 asks whether a smaller input keeps the accuracy: an 80x80 MobileFaceNet costs about half the
multiply-adds of the 112x112 one ((80/112)^2 = 0.51) and its input already matches what a camera sees of a
small face.

Method: everything as ``recipes/distill.py`` (frozen 112 px PReLU teacher on the clean face; student fed the
clean face and a camera-degraded copy, loss (1 - cos) to the teacher's embedding for both; CelebA train
identities; 600 steps of 64; Adam 3e-4 cosine), except the student's input: the aligned face (and its degraded
copy) resized to 80x80 (``Preprocessing.prepare``, bicubic with antialias; the 5-point template scales with it),
the pretrained file's weights, its 7x7 GDC kept on the 5x5 feature map resized to 7x7 (``head: adaptive_gdc``,
``model.backbone_kwargs.input_size=[80, 80]``). At step 0 it is not the teacher's function (cosine about 0.3-0.7
to the 112 px model on LFW sample faces): the distillation has to restore it. Every lrfr_tf command feeds it
80x80 faces from its attached preprocessing (evaluation, export, edge).

Data: as ``distill``: ../shared/data/celeba/aligned112, the "train" side of the fixed identity split (241
identities, 5,001 faces; labels unused); tuning on LFW View 1 only.

Command: python -m lrfr_tf.train --recipe=distill_80px --workdir=runs/distill_80px     # about 50 min, 2 cores
Smoke:   python -m lrfr_tf.train --recipe=distill_80px --config.scale=smoke

Expected: not measured yet; compare its View 1 figures (pairsDevTest.txt, logged at steps 300 and 600) with
``distill``'s (112 px 98.80%, CR 8 px 82.60%, CR 12 px 89.55%).
"""

from lrfr_tf.train.recipes import load_config


def get_config():
    config = load_config("distill")
    config.name = "distill_80px"
    config.model.backbone_kwargs = {"input_size": [80, 80], "head": "adaptive_gdc"}
    return config
