"""ST-M1: multi-resolution siamese training with two branches (HR + one LR at a random size).

Paper: Knoche, Hörmann, Rigoll (arXiv 2107.03769), multi-resolution siamese training: as ``st``
but the LR branch's size is drawn per image from {7, 14, 28, 56} px; loss (eq. 7) = the SUM of the
ArcFace cross-entropies (Deng et al. 2019, eq. 3) of the two branches + 25 * d_cos(f(HR), f(LR))
(Knoche et al., eq. 6; weight 25 for two branches): ``siamese.ce_reduction = "sum"``.

Training settings and departures from the paper: ``defaults.KNOCHE_SETTINGS``, appended below.

Data: aligned 112x112 identity set; optional ``--config.model.init=`` HR model to fine-tune.

Command: python -m lrfr_tf.train --recipe=st_m1 --config.data.train=/data/ms1mv2/train-*.tfrecord
Smoke:   python -m lrfr_tf.train --recipe=st_m1 --config.scale=smoke

Expected (the paper's claim in direction, as issue 15 states it): one model for every resolution, better than the HR baseline
on the low-resolution protocol, giving up some high-resolution accuracy relative to BT-M (``bt_m``).
ST-M1's own accuracy in the paper is not quoted here (issue 15 reads it as 96.76%; not checked against
the paper). The 97.72% (vs 96.86%) of the paper's abstract, LFW with image sizes uniform between 5 and
112 px, is its best multi-resolution model's (BT-M's, as issue 15 reads the paper), not ST-M1's.
No accuracy of this recipe has been measured here.
"""

from lrfr_tf.train import defaults as D

__doc__ += D.KNOCHE_SETTINGS + D.EQUAL_TERMS


def get_config():
    config = D.knoche_config("st_m1", "siamese", losses={"ce": 1.0, "distance": 25.0})
    config.siamese.views = ["resolution(sizes=[7, 14, 28, 56])|resize()"]  # distance: cosine_distance
    config.siamese.ce_reduction = "sum"  # eq. 7: CE(HR) + CE(LR) + 25 d
    config.eval.sizes = [7, 14, 28, 56]
    config.scales.smoke = D.smoke_scale()
    config.scales.equal_terms = D.equal_terms_scale({"ce": 1.0, "distance": 25.0})
    return config
