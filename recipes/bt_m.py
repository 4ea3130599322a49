"""BT-M: multi-resolution batch training - half of every batch at a size drawn from {7, 14, 28, 56, 112}.

Paper: Knoche, Hörmann, Rigoll (arXiv 2107.03769), multi-resolution extension of batch training:
as ``bt`` (ArcFace loss, Deng et al. 2019 eq. 3; 50% of each batch degraded by bicubic down- and
up-sampling) but each degraded image gets its own size, uniform over {7, 14, 28, 56, 112} px
(``lrfr_tf.data.degrade`` preset ``octaves_7_112``). One model serves every resolution.

Data: aligned 112x112 identity set (MS1MV2 TFRecords or identity folder); optional
``--config.model.init=`` HR model to fine-tune.

Command: python -m lrfr_tf.train --recipe=bt_m --config.data.train=/data/ms1mv2/train-*.tfrecord
Smoke:   python -m lrfr_tf.train --recipe=bt_m --config.scale=smoke

Expected (paper): the multi-resolution models are slightly worse than a model trained for one
resolution at that resolution but better overall: 97.72% vs 96.86% averaged over resolutions.
"""

from lrfr_tf.train import defaults as D


def get_config():
    steps = 180_000
    config = D.recognition_config("bt_m", "classifier", steps, backbone="iresnet50",
                                  boundaries=[100_000 / steps, 160_000 / steps])
    config.data.degrade = "octaves_7_112"  # resolution(sizes=[7, 14, 28, 56, 112])|resize()
    config.data.degrade_fraction = 0.5
    config.eval.sizes = [7, 14, 28, 56]
    config.scales.smoke = D.smoke_scale()
    return config
