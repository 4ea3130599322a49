"""IP U-Net: identity-preserving face super-resolution with a frozen pretrained recognizer.

Generator: a pix2pix U-Net (Isola et al., CVPR 2017; ``lrfr_tf.models.ip_unet``) mapping the LR
face (bicubic down to 7-28 px and back up to 112 px) to a restored 112 px face. Loss:
  L = L_pixel + beta * L_id,   beta = 5,
  L_pixel = mean ((SR - HR) / 255)^2,   L_id = 1 - cos(phi(SR), phi(HR)),
with phi the imported pretrained MobileFaceNet (frozen; ../shared/data/models/mobilefacenet,
99.05% on LFW at 112 px). Recognition at test time: phi(SR(face)) (``SuperResolvedEmbedder``),
so the recognizer is never retrained - the SR net learns to restore what phi needs.
Adam (lr 2e-4, beta_1 0.5, the pix2pix setting).

Data: aligned 112x112 faces with identity folders (labels unused): e.g. CelebA
(``../shared/data/celeba/aligned112`` here; 6,209 faces) or a larger set.
Needs the MobileFaceNet .tflite: ``--config.model.init=PATH`` (default: the ../shared copy).

Command: python -m lrfr_tf.train --recipe=ip_unet --config.data.train=../shared/data/celeba/aligned112
Smoke:   python -m lrfr_tf.train --recipe=ip_unet --config.scale=smoke

Expected: higher LFW cross-resolution accuracy of MobileFaceNet at 7-14 px through the SR net than
on the bicubic faces directly (the baseline's accuracy falls steeply below 24 px), with HR (112 px)
accuracy close to the recognizer's 99.05%.
"""

from lrfr_tf.train import defaults as D

MOBILEFACENET = "../shared/data/models/mobilefacenet/MobileFaceNet.tflite"


def get_config():
    config = D.base_config("ip_unet", method="super_resolution")
    config.data.train = "../shared/data/celeba/aligned112"
    config.data.batch_size = 64
    config.data.degrade = "resolution(sizes=[7, 14, 28])|resize()"
    config.model.init = MOBILEFACENET
    config.model.init_batch_norm = False  # the file's folded structure: frozen inference
    config.model.backbone = "mobilefacenet"
    config.model.embedding_dim = 192
    config.model.head = ""
    config.sr.name = "ip_unet"
    config.sr.kwargs = {"filters": 64, "max_filters": 512, "num_levels": 4}
    config.stages.train = D.stage(50_000, main=D.update(
        ["sr_net"], {"pixel": 1.0, "identity": 5.0}, D.optimizer("adam", lr=2e-4, beta_1=0.5)))
    config.log.images_every = 1000
    config.eval.every = 5000
    config.scales.smoke = {
        "data": {"train": D.SAMPLE_CELEBA, "batch_size": 8},
        "sr": {"kwargs": {"filters": 8, "max_filters": 32, "num_levels": 4}},
        "stages": {"train": {"steps": 4}},
        "checkpoint": {"every": 2},
        "log": {"every": 1, "images_every": 2},
        "eval": {"every": 0, "sizes": [8, 14]},
    }
    return config
