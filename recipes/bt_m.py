"""BT-M: multi-resolution batch training - half of every batch at a size drawn from {7, 14, 28, 56, 112}.

Paper: Knoche, Hörmann, Rigoll (arXiv 2107.03769), multi-resolution extension of batch training:
as ``bt`` (ArcFace loss, Deng et al. 2019 eq. 3; 50% of each batch degraded by bicubic down- and
up-sampling) but each degraded image gets its own size, uniform over {7, 14, 28, 56, 112} px
(``lrfr_tf.data.degrade`` preset ``octaves_7_112``). One model serves every resolution.

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


def get_config():
    steps = 180_000
    config = D.recognition_config("bt_m", "classifier", steps, batch_size=128, lr=0.01, backbone="iresnet50",
                                  boundaries=[100_000 / steps, 160_000 / steps])
    config.model.backbone_kwargs = {"dropout": 0.5}
    config.data.degrade = "octaves_7_112"  # resolution(sizes=[7, 14, 28, 56, 112])|resize()
    config.data.degrade_fraction = 0.5
    config.eval.sizes = [7, 14, 28, 56]
    config.scales.smoke = D.smoke_scale()
    return config
