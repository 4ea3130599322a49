"""BT: batch training - half of every batch degraded to one low resolution.

Paper: Knoche, Hörmann, Rigoll, "Susceptibility to Image Resolution in Face Recognition and
Training Strategies" (arXiv 2107.03769), Sec. "Batch training": an ArcFace model (ArcFace loss,
Deng et al. 2019, eq. 3, s = 64, m = 0.5) trained with 50% of the images of each batch reduced
to r x r px by antialiased bicubic down-sampling and bicubic up-sampling back to 112 px (their
degradation; ``lrfr_tf.data.degrade``). One model per LR size r (default r = 14; choose with
``--config.data.degrade='resolution(size=8)|resize()'``); for several sizes at once see ``bt_m``.

Data: an aligned 112x112 identity set (MS1MV2 as TFRecords or an identity folder);
``--config.model.init=`` an HR model (.keras / .weights.h5 of the same backbone) to fine-tune.

Command: python -m lrfr_tf.train --recipe=bt --config.data.train=/data/ms1mv2/train-*.tfrecord
Smoke:   python -m lrfr_tf.train --recipe=bt --config.scale=smoke

Expected (paper, LFW cross-resolution): the HR baseline falls from 99.23% to ~55% at 5 px;
batch training lifts the very-low-resolution CR accuracy to ~70% at the cost of a little HR accuracy.
"""

from lrfr_tf.train import defaults as D


def get_config():
    steps = 180_000
    config = D.recognition_config("bt", "classifier", steps, backbone="iresnet50",
                                  boundaries=[100_000 / steps, 160_000 / steps])
    config.data.degrade = "resolution(size=14)|resize()"
    config.data.degrade_fraction = 0.5
    config.eval.sizes = [7, 14, 28]
    config.scales.smoke = D.smoke_scale()
    return config
