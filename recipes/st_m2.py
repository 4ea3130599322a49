"""ST-M2: multi-resolution siamese training with five branches (112 HR + 56, 28, 14, 7 px).

Paper: Knoche, Hörmann, Rigoll (arXiv 2107.03769), multi-resolution siamese training: one shared
backbone sees the HR face and four copies at 56, 28, 14 and 7 px (bicubic down/up, same flip);
loss = the SUM of the ArcFace cross-entropies (Deng et al. 2019, eq. 3) of the five branches (eq. 7
over five branches: ``siamese.ce_reduction = "sum"``) + 3 * mean_k d_cos(f(HR), f(LR_k)) (Knoche et
al., eq. 6; weight 3 for five branches). Whether the paper sums or averages the four distances has not
been checked here; the toolkit averages them.

Training settings and departures from the paper: ``defaults.KNOCHE_SETTINGS``, appended below.

Data: aligned 112x112 identity set; optional ``--config.model.init=`` HR model to fine-tune.

Command: python -m lrfr_tf.train --recipe=st_m2 --config.data.train=/data/ms1mv2/train-*.tfrecord
Smoke:   python -m lrfr_tf.train --recipe=st_m2 --config.scale=smoke

Expected (the paper's claim in direction, as issue 15 states it): one model for every resolution, better than the HR baseline
at low resolution. ST-M2's own accuracy in the paper is not quoted here. The 97.72% (vs 96.86%) of the
paper's abstract, LFW with image sizes uniform between 5 and 112 px, is its best multi-resolution
model's (BT-M's, as issue 15 reads the paper), not ST-M2's. No accuracy of this recipe has been measured
here.
"""

from lrfr_tf.train import defaults as D

__doc__ += D.KNOCHE_SETTINGS


def get_config():
    config = D.knoche_config("st_m2", "siamese", losses={"ce": 1.0, "distance": 3.0})
    config.siamese.views = [f"resolution(size={r})|resize()" for r in (56, 28, 14, 7)]  # distance: cosine_distance
    config.siamese.ce_reduction = "sum"  # eq. 7 over five branches: sum_b CE_b + 3 mean_k d_k
    config.eval.sizes = [7, 14, 28, 56]
    config.scales.smoke = D.smoke_scale(batch_size=4)
    return config
