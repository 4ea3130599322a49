"""Quickstart: a few minutes on a CPU - train a small low-resolution-robust recognizer on the embedded
sample and print its LFW-sample cross-resolution accuracy.

What it does: multi-resolution batch training (BT-M, Knoche et al. 2021, arXiv 2107.03769: half
of every batch degraded to a size drawn from {7, 14, 28, 56, 112} px by bicubic down/up-sampling)
of a narrow IResNet with a CosFace head (s * (cos(theta_y) - m), Wang et al. 2018, eq. 4) on the
embedded CelebA sample (``lrfr_tf/data/sample/celeba``: 30 identities x 10 faces), then evaluates
on the embedded LFW sample (``lrfr_tf/data/sample/lfw``: 200 pairs) at full resolution and at
cross-resolution 8/14/28 px (Knoche et al. protocol, both flips averaged).

Command: python -m lrfr_tf.train --recipe=quickstart
Fine-tune the pretrained MobileFaceNet instead (needs the .tflite, e.g. ../shared):
         python -m lrfr_tf.train --recipe=quickstart --config.model.init=../shared/data/models/mobilefacenet/MobileFaceNet.tflite --config.stages.train.updates.main.optimizer.lr=0.01

Outputs in runs/quickstart: config.json, checkpoints/, tensorboard/, export/embedder.keras,
results.json (the printed accuracies).

Expected: about 70-77% on the LFW sample at 112 px and 60-76% cross-resolution at 8-28 px
(200 pairs, so +-3%; measured: 75.0% HR and 67.8% / 71.0% / 73.0% CR at 8 / 14 / 28 px in 3 minutes
on 2 shared CPU cores; on a fresh clone, idle: 76.0% HR, 65.0% / 76.0% / 75.8% CR, loss 11.98 -> 1.71,
107 s including start-up. Multithreaded float sums make CPU runs differ slightly; the data order does not). 300 faces are far too few to learn faces from scratch: well above
chance, far below a real model. See the other recipes for paper-scale training.
"""

from lrfr_tf.train import defaults as D


def get_config():
    config = D.base_config("quickstart", method="classifier")
    config.data.train = D.SAMPLE_CELEBA
    config.data.batch_size = 32
    config.data.degrade = "octaves_7_112"
    config.data.degrade_fraction = 0.5
    config.model.backbone = "iresnet18"
    config.model.embedding_dim = 128
    config.model.backbone_kwargs = {"units": [1, 1, 1, 1], "channels": [16, 32, 64, 128], "stem_channels": 16}
    config.model.head = "cosface"
    config.model.head_kwargs = {"scale": 30.0, "margin": 0.2}
    config.stages.train = D.stage(100, main=D.update(
        ["backbone", "head"], {"ce": 1.0},
        D.optimizer("sgd", lr=0.1, schedule="cosine", warmup_steps=20, momentum=0.9, weight_decay=5e-4)))
    config.checkpoint.every = 50
    config.log.every = 10
    config.eval.every = 50
    config.eval.sizes = [8, 14, 28]
    config.scales.smoke = {"stages": {"train": {"steps": 4}}, "data": {"batch_size": 8},
                           "checkpoint": {"every": 2}, "log": {"every": 1}, "eval": {"every": 0}}
    return config
