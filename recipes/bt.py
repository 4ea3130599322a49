"""BT: batch training - half of every batch degraded to one low resolution.

Paper: Knoche, Hörmann, Rigoll, "Susceptibility to Image Resolution in Face Recognition and
Training Strategies" (arXiv 2107.03769), Sec. "Batch training": an ArcFace model (ArcFace loss,
Deng et al. 2019, eq. 3, s = 64, m = 0.5) trained with 50% of the images of each batch reduced
to r x r px by antialiased bicubic down-sampling and bicubic up-sampling back to 112 px (their
degradation; ``lrfr_tf.data.degrade``). One model per LR size r (default r = 14; choose with
``--config.data.degrade='resolution(size=8)|resize()'``); for several sizes at once see ``bt_m``.

Training settings and departures from the paper: ``defaults.KNOCHE_SETTINGS``, appended below.

Data: an aligned 112x112 identity set (MS1MV2 as TFRecords or an identity folder);
``--config.model.init=`` an HR model (.keras / .weights.h5 of the same backbone) to fine-tune.

Command: python -m lrfr_tf.train --recipe=bt --config.data.train=/data/ms1mv2/train-*.tfrecord
Smoke:   python -m lrfr_tf.train --recipe=bt --config.scale=smoke

Expected (the paper's abstract, LFW): its HR model's 99.23% falls to almost 55% when both faces are
5 px, and further for cross-resolution pairs; batch training lifts the accuracy at very low resolution
to about 70%. Our own figures, not the paper's (results/reference): the pretrained MobileFaceNet also
gives 99.23% at 112 px, and 66.82% when both faces are 5 px, 51.88% when one is.
No accuracy of this recipe has been measured here.
"""

from lrfr_tf.train import defaults as D

__doc__ += D.KNOCHE_SETTINGS


def get_config():
    config = D.knoche_config("bt", "classifier")
    config.data.degrade = "resolution(size=14)|resize()"
    config.data.degrade_fraction = 0.5
    config.eval.sizes = [7, 14, 28]
    config.scales.smoke = D.smoke_scale()
    return config
