"""BT: batch training - half of every batch degraded to one low resolution.

Paper: Knoche, Hörmann, Rigoll, "Susceptibility to Image Resolution in Face Recognition and
Training Strategies" (arXiv 2107.03769), Sec. "Batch training": an ArcFace model (ArcFace loss,
Deng et al. 2019, eq. 3, s = 64, m = 0.5) trained with 50% of the images of each batch reduced
to r x r px by antialiased bicubic down-sampling and bicubic up-sampling back to 112 px (their
degradation; ``lrfr_tf.data.degrade``). One model per LR size r (default r = 14; choose with
``--config.data.degrade='resolution(size=8)|resize()'``); for several sizes at once see ``bt_m``.

Training settings (the paper's, as issue 15 reads it): batch 128, SGD lr 0.01 with momentum 0.9,
dropout 0.5 before the embedding FC (``model.backbone_kwargs.dropout``); weight decay 5e-4 as the
coupled L2 (``lambda * w`` added to the gradient before the momentum, ``weight_decay_mode``).
Departure from the paper: an ArcFace IResNet-50 from scratch (or ``--config.model.init=``), not an
ImageNet-initialised ResNet-50, because no ImageNet weights are available offline here.
Departure from the paper: no colour augmentation (only the horizontal flip), because the toolkit's
augmentation ops have no colour jitter.
Departure from the paper: 180k iterations with the lr divided by 10 at 100k and 160k (ArcFace's
schedule, kept from the toolkit's other recipes), because the paper's own schedule has not been checked
here (it is not quoted).

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


def get_config():
    steps = 180_000
    config = D.recognition_config("bt", "classifier", steps, batch_size=128, lr=0.01, backbone="iresnet50",
                                  boundaries=[100_000 / steps, 160_000 / steps])
    config.model.backbone_kwargs = {"dropout": 0.5}
    config.data.degrade = "resolution(size=14)|resize()"
    config.data.degrade_fraction = 0.5
    config.eval.sizes = [7, 14, 28]
    config.scales.smoke = D.smoke_scale()
    return config
