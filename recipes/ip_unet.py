"""IP U-Net: identity-preserving face super-resolution with a frozen pretrained recognizer.

Generator: a pix2pix U-Net (Isola et al., CVPR 2017; ``lrfr_tf.models.ip_unet``), 7 down / 7 up, the
paper's depth for 128 px (as issue 15 reads the paper), mapping the LR face (bicubic down to one of the
paper's 10 sizes and back up to 112 px) to a restored 112 px face. Loss, the paper's eq. 3:
  L = L_emb + 5 * L_pixel,
  L_emb = MSE(n(phi(SR)), n(phi(HR))) = 1/D ||n(phi(SR)) - n(phi(HR))||^2 = (2 - 2 cos(phi(SR), phi(HR))) / D,
  L_pixel = mean ((SR - HR) / 255)^2,
with phi the imported pretrained MobileFaceNet (frozen; ../shared/data/models/mobilefacenet, 99.05% on
LFW at 112 px by the independent harness of ../shared/README.md), D = 192 and n the L2 normalisation
(``sr.identity_distance = "normalized_mse"``). Recognition at test time: phi(SR(face))
(``SuperResolvedEmbedder``), so the recognizer is never retrained - the SR net learns to restore what phi
needs. Adam (lr 2e-4, beta_1 0.5, the pix2pix setting; the paper's optimizer is not checked here).
LR sizes: the paper's list, height x width 7x6, 11x8, 14x12, 16x12, 16x14, 16x16, 18x16, 21x15, 32x32,
112x96 at equal probability (``data.degrade = "multi_scale"``, the preset ``resolution(preset=multi_scale)
|resize()``).

The balance of the two terms, as gradient norms w.r.t. the U-Net's weights (smoke scale with the paper's plain
U-Net, residual off: 8 faces, the smoke U-Net untrained, the real MobileFaceNet, median of 4 batches;
tests/train/test_recipe_fidelity.py, run with -s to print): ||grad L_emb|| / ||grad 5 L_pixel|| = 0.07 with
eq. 3; the old loss (5 (1 - cos) + L_pixel) had 160 (the identity term drove the net), and the MSE of the raw
MobileFaceNet embeddings (norms 60-76) would have 140. So eq. 3 on normalised embeddings lets the pixel term lead, the identity term a correction to it.

Departure from the paper: the U-Net restores 112x112 faces reflected to 128x128 (8 px each side,
``sr.kwargs.pad_input``) and cropped back, not 128 px faces, because the toolkit's aligned faces (training
data, the LFW evaluation, the recognizer's input) are 112x112; the net's 7 levels are the paper's.
Departure from the paper at the smoke and claim scales only: the U-Net predicts a residual added to its input
(``sr.kwargs.residual``, VDSR's global residual), because a pix2pix U-Net trained for a few hundred steps (or 4)
still outputs a near-flat grey image (measured on the smoke workdir: 127.5 +- 1 grey level for every face), so the
recognizer behind it sees no face: its accuracy is chance and its int8 export cannot represent a +-1-level
signal (the export gate failed at mean cosine 0.82). With the residual the net starts at the bicubic face.
The full scale keeps the paper's plain U-Net.
Not checked against the paper: whether its embeddings are L2-normalised before the MSE (the recognizer
compares them by cosine, and the raw MobileFaceNet embeddings would weight the identity term ~2,000 times
more), and the shape of its HR faces: the sizes are applied as height x width to our square 112x112 faces.

Data: aligned 112x112 faces with identity folders (labels unused): e.g. CelebA
(``../shared/data/celeba/aligned112`` here; 6,209 faces) or a larger set.
Needs the MobileFaceNet .tflite: ``--config.model.init=PATH`` (default: the ../shared copy).

Command: python -m lrfr_tf.train --recipe=ip_unet --config.data.train=../shared/data/celeba/aligned112
Smoke:   python -m lrfr_tf.train --recipe=ip_unet --config.scale=smoke
Claim S1 (issue 15, small scale: a 16 -> 128-filter U-Net, 600 steps x 32 faces, ~30 min on 2 cores each):
         python -m lrfr_tf.train --recipe=ip_unet --config.scale=claim --workdir=runs_claims/ip_unet
         python -m lrfr_tf.train --recipe=ip_unet --config.scale=claim --workdir=runs_claims/ip_unet_pixel \
             --config.stages.train.updates.main.losses.identity=0

Expected (the paper's claim in direction, as issue 15 states it; no figure of the paper is quoted here):
pixel + identity loss beats pixel-only (``--config.stages.train.updates.main.losses.identity=0``) at 7-14 px
cross-resolution. Also the recipe's aim: MobileFaceNet through the SR net beats it on the bicubic faces
directly (its accuracy falls steeply below 24 px). Measured at the claim scale (2026-12-03, LFW View 2,
results/claims/, results/equal_terms/comparison.md): CR 7 px 70.08 (pixel only 69.29, bicubic 56.78), CR 14 px
90.38 (89.27, 83.30), low_res 70.99 (69.76, 58.45). The full scale has not been run.
"""

from lrfr_tf.train import defaults as D

MOBILEFACENET = "../shared/data/models/mobilefacenet/MobileFaceNet.tflite"


def get_config():
    config = D.base_config("ip_unet", method="super_resolution")
    config.data.train = "../shared/data/celeba/aligned112"
    config.data.batch_size = 64
    config.data.degrade = "multi_scale"  # the paper's 10 sizes, uniform
    config.model.init = MOBILEFACENET
    config.model.init_batch_norm = False  # the file's folded structure: frozen inference
    config.model.backbone = "mobilefacenet"
    config.model.embedding_dim = 192
    config.model.head = ""
    config.sr.name = "ip_unet"
    config.sr.kwargs = {"filters": 64, "max_filters": 512, "num_levels": 7, "pad_input": True, "residual": False}
    config.sr.identity_distance = "normalized_mse"  # eq. 3: MSE of the (L2-normalised) embeddings
    config.stages.train = D.stage(50_000, main=D.update(
        ["sr_net"], {"identity": 1.0, "pixel": 5.0}, D.optimizer("adam", lr=2e-4, beta_1=0.5)))  # eq. 3
    config.log.images_every = 1000
    config.eval.every = 5000
    # Issue 15's claim S1 at small scale (benchmarks/equal_terms.py, claim S1): a narrower U-Net (16 -> 128 filters, the 7
    # levels kept), 600 steps x 32 CelebA train-split faces, View 1 evaluation; the pixel-only arm adds
    # --config.stages.train.updates.main.losses.identity=0.
    config.scales.claim = {
        "data": {"train": D.SHARED_CELEBA, "identities": "train", "batch_size": 32},
        "sr": {"kwargs": {"filters": 16, "max_filters": 128, "num_levels": 7, "pad_input": True, "residual": True}},
        "stages": {"train": {"steps": 600}},
        "checkpoint": {"every": 100},
        "log": {"every": 10, "images_every": 300},
        "eval": {"every": 300, "data_dir": D.SHARED_LFW, "pairs_file": "pairsDevTest.txt", "sizes": [7, 14]},
    }
    config.scales.smoke = {
        "data": {"train": D.SAMPLE_CELEBA, "batch_size": 8},
        "sr": {"kwargs": {"filters": 8, "max_filters": 32, "num_levels": 7, "pad_input": True, "residual": True}},
        "stages": {"train": {"steps": 4}},
        "checkpoint": {"every": 2},
        "log": {"every": 1, "images_every": 2},
        "eval": {"every": 0, "sizes": [8, 14]},
    }
    return config
