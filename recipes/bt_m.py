"""BT-M: multi-resolution batch training - half of every batch at a size drawn from {7, 14, 28, 56, 112}.

Paper: Knoche, Hörmann, Rigoll (arXiv 2107.03769), multi-resolution extension of batch training:
as ``bt`` (ArcFace loss, Deng et al. 2019 eq. 3; 50% of each batch degraded by bicubic down- and
up-sampling) but each degraded image gets its own size, uniform over {7, 14, 28, 56, 112} px
(``lrfr_tf.data.degrade`` preset ``octaves_7_112``). One model serves every resolution.

Training settings and departures from the paper: ``defaults.KNOCHE_SETTINGS``, appended below.

Data: aligned 112x112 identity set (MS1MV2 TFRecords or identity folder); optional
``--config.model.init=`` HR model to fine-tune.

Command: python -m lrfr_tf.train --recipe=bt_m --config.data.train=/data/ms1mv2/train-*.tfrecord
Smoke:   python -m lrfr_tf.train --recipe=bt_m --config.scale=smoke

Expected (the paper's abstract): the multi-resolution models are slightly worse than a model trained
for one resolution at that resolution, but better overall: 97.72% compared to 96.86% on LFW with
image sizes uniform between 5 and 112 px. The abstract does not name the model; issue 15 reads 97.72%
as BT-M's. No accuracy of this recipe has been measured here.
"""

from lrfr_tf.train import defaults as D

__doc__ += D.KNOCHE_SETTINGS + D.EQUAL_TERMS


def get_config():
    config = D.knoche_config("bt_m", "classifier")
    config.data.degrade = "octaves_7_112"  # resolution(sizes=[7, 14, 28, 56, 112])|resize()
    config.data.degrade_fraction = 0.5
    config.eval.sizes = [7, 14, 28, 56]
    config.scales.smoke = D.smoke_scale()
    config.scales.equal_terms = D.equal_terms_scale({"ce": 1.0})
    return config
