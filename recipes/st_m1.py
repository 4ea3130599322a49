"""ST-M1: multi-resolution siamese training with two branches (HR + one LR at a random size).

Paper: Knoche, Hörmann, Rigoll (arXiv 2107.03769), multi-resolution siamese training: as ``st``
but the LR branch's size is drawn per image from {7, 14, 28, 56} px; loss (eq. 7) = the SUM of the
ArcFace cross-entropies (Deng et al. 2019, eq. 3) of the two branches + 25 * d_cos(f(HR), f(LR))
(Knoche et al., eq. 6; weight 25 for two branches): ``siamese.ce_reduction = "sum"``.

Data: aligned 112x112 identity set; optional ``--config.model.init=`` HR model to fine-tune.

Command: python -m lrfr_tf.train --recipe=st_m1 --config.data.train=/data/ms1mv2/train-*.tfrecord
Smoke:   python -m lrfr_tf.train --recipe=st_m1 --config.scale=smoke

Expected (paper): one model for every resolution, overall better than single-resolution models
(97.72% vs 96.86% averaged over resolutions for the multi-resolution training).
"""

from lrfr_tf.train import defaults as D


def get_config():
    steps = 180_000
    config = D.recognition_config("st_m1", "siamese", steps, backbone="iresnet50", losses={"ce": 1.0, "distance": 25.0},
                                  boundaries=[100_000 / steps, 160_000 / steps])
    config.siamese.views = ["resolution(sizes=[7, 14, 28, 56])|resize()"]  # distance: cosine_distance
    config.siamese.ce_reduction = "sum"  # eq. 7: CE(HR) + CE(LR) + 25 d
    config.eval.sizes = [7, 14, 28, 56]
    config.scales.smoke = D.smoke_scale()
    return config
