"""Distill (ReLU student): the ``distill`` recipe with a ReLU MobileFaceNet student, for int8 edge targets.

Why: on x86 the int8 MobileFaceNet with PReLU ran about 3.7x slower than float (LiteRT has no fast int8 PReLU
kernel there) while a ReLU network's int8 ran as fast as float (README, "Export and serve"). Issue 14 asks
whether a ReLU student keeps the accuracy.

Method: everything as ``recipes/distill.py`` (frozen PReLU teacher on the clean 112 px face; student fed the
clean face and a camera-degraded copy; loss (1 - cos) to the teacher's embedding for both; CelebA train
identities; 600 steps of 64; Adam 3e-4 cosine), except the student: the pretrained file's convolutions with ReLU
instead of its PReLU (``model.backbone_kwargs.activation=relu``, ``load_mobilefacenet_tflite(activation=...)``),
its PReLU slopes dropped. At step 0 it is not the teacher's function (cosine to the teacher about 0.06 on random
inputs): the distillation has to restore it.

Data: as ``distill``: ../shared/data/celeba/aligned112, the "train" side of the fixed identity split (241
identities, 5,001 faces; labels unused); tuning on LFW View 1 only.

Command: python -m lrfr_tf.train --recipe=distill_relu --workdir=runs/distill_relu     # about 65 min, 2 cores
Smoke:   python -m lrfr_tf.train --recipe=distill_relu --config.scale=smoke

Expected: not measured yet; compare its View 1 figures (pairsDevTest.txt, logged at steps 300 and 600) with
``distill``'s (112 px 98.80%, CR 8 px 82.60%, CR 12 px 89.55%).
"""

from lrfr_tf.train.recipes import load_config


def get_config():
    config = load_config("distill")
    config.name = "distill_relu"
    config.model.backbone_kwargs = {"activation": "relu"}
    return config
