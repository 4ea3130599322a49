"""ST: siamese training - HR and LR branches with a cosine-distance feature loss.

Paper: Knoche, Hörmann, Rigoll (arXiv 2107.03769), "Siamese training": one backbone (shared
weights) sees the HR face and its r x r px copy (bicubic down/up, same flip); loss (eq. 7) =
the SUM of the ArcFace cross-entropies (Deng et al. 2019, eq. 3) of the two branches
+ 25 * d_cos(f(HR), f(LR)) with d_cos = 1 - cos (Knoche et al., eq. 6;
``lrfr_tf.losses.distance.cosine_distance``): ``siamese.ce_reduction = "sum"``.
One model per LR size (default r = 14, ``--config.siamese.views="['resolution(size=8)|resize()']"``).

Training settings and departures from the paper: ``defaults.KNOCHE_SETTINGS``, appended below.

Data: aligned 112x112 identity set; optional ``--config.model.init=`` HR model to fine-tune.

Command: python -m lrfr_tf.train --recipe=st --config.data.train=/data/ms1mv2/train-*.tfrecord
Smoke:   python -m lrfr_tf.train --recipe=st --config.scale=smoke

Expected (the paper's abstract, LFW): its HR model's 99.23% falls to almost 55% when both faces are
5 px, and further for cross-resolution pairs; batch training and siamese training raise the accuracy
at very low resolution to about 70%. (The pretrained MobileFaceNet measured here, results/reference,
also gives 99.23% at 112 px and 51.88% cross-resolution at 5 px: our figures, not the paper's.)
No accuracy of this recipe has been measured here.
"""

from lrfr_tf.train import defaults as D

__doc__ += D.KNOCHE_SETTINGS


def get_config():
    config = D.knoche_config("st", "siamese", losses={"ce": 1.0, "distance": 25.0})
    config.siamese.views = ["resolution(size=14)|resize()"]  # distance: cosine_distance
    config.siamese.ce_reduction = "sum"  # eq. 7: CE(HR) + CE(LR) + 25 d
    config.eval.sizes = [7, 14, 28]
    config.scales.smoke = D.smoke_scale()
    return config
