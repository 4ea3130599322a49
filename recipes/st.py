"""ST: siamese training - HR and LR branches with a cosine-distance feature loss.

Paper: Knoche, Hörmann, Rigoll (arXiv 2107.03769), "Siamese training": one backbone (shared
weights) sees the HR face and its r x r px copy (bicubic down/up, same flip); loss (eq. 7) =
the SUM of the ArcFace cross-entropies (Deng et al. 2019, eq. 3) of the two branches
+ 25 * d_cos(f(HR), f(LR)) with d_cos = 1 - cos (Knoche et al., eq. 6;
``lrfr_tf.losses.distance.cosine_distance``): ``siamese.ce_reduction = "sum"``.
One model per LR size (default r = 14, ``--config.siamese.views="['resolution(size=8)|resize()']"``).

Data: aligned 112x112 identity set; optional ``--config.model.init=`` HR model to fine-tune.

Command: python -m lrfr_tf.train --recipe=st --config.data.train=/data/ms1mv2/train-*.tfrecord
Smoke:   python -m lrfr_tf.train --recipe=st --config.scale=smoke

Expected (paper): cross-resolution accuracy at very low resolution up to ~70% (baseline ~55% at 5 px).
"""

from lrfr_tf.train import defaults as D


def get_config():
    steps = 180_000
    config = D.recognition_config("st", "siamese", steps, backbone="iresnet50", losses={"ce": 1.0, "distance": 25.0},
                                  boundaries=[100_000 / steps, 160_000 / steps])
    config.siamese.views = ["resolution(size=14)|resize()"]  # distance: cosine_distance
    config.siamese.ce_reduction = "sum"  # eq. 7: CE(HR) + CE(LR) + 25 d
    config.eval.sizes = [7, 14, 28]
    config.scales.smoke = D.smoke_scale()
    return config
