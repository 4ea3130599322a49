"""Distill (ReLU student): the ``distill`` recipe with a ReLU MobileFaceNet student, for int8 edge targets.

Why: on x86 the int8 MobileFaceNet with PReLU ran about 3.7x slower than float (LiteRT has no fast int8 PReLU
kernel there) while a ReLU network's int8 ran as fast as float (README, "Export and serve"). Issue 14 asks
whether a ReLU student keeps the accuracy.

Method: everything as ``recipes/distill.py`` (frozen PReLU teacher on the clean 112 px face; student fed the
clean face and a camera-degraded copy; loss (1 - cos) to the teacher's embedding for both; CelebA train
identities; 600 steps of 64; Adam 3e-4 cosine), except the student's activations: it starts as the pretrained
PReLU network (the teacher's function) and its PReLU slopes, frozen, are scaled linearly to 0 over the first 300
steps (``distill.relu_anneal_steps=300``), so the last 300 steps train a ReLU network; the export is its ReLU
build (``lrfr_tf.models.layers.relu_copy``: RELU fused into the convolutions, no PRELU op). 300 is half the run,
not tuned.

Measured first (2026-12-03, View 2 by the harness): the ReLU student started from the file's convolutions
with its slopes dropped (``model.backbone_kwargs.activation=relu``; cosine to the teacher about 0.06 at step 0)
was still at 1 - cos = 0.44 to the teacher after 600 steps and scored 112 px 84.98, low_res 73.22, CR 8 px
74.45, CR 12 px 80.90 (``distill``: 99.00 / 81.16 / 83.47 / 90.01): dropping the slopes throws away what 600 steps
cannot restore; annealing them keeps the teacher's function at every step.

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
    config.distill.relu_anneal_steps = 300
    config.scales.smoke = {**config.scales.smoke.to_dict(), "distill": {"relu_anneal_steps": 1}}
    return config
