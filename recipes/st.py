"""ST: siamese training - HR and LR branches with a cosine-distance feature loss.

Paper: Knoche, Hörmann, Rigoll (arXiv 2107.03769), "Siamese training": one backbone (shared
weights) sees the HR face and its r x r px copy (bicubic down/up, same flip); loss (eq. 7) =
the SUM of the ArcFace cross-entropies (Deng et al. 2019, eq. 3) of the two branches
+ 25 * d_cos(f(HR), f(LR)) with d_cos = 1 - cos (Knoche et al., eq. 6;
``lrfr_tf.losses.distance.cosine_distance``): ``siamese.ce_reduction = "sum"``.
One model per LR size (default r = 14, ``--config.siamese.views="['resolution(size=8)|resize()']"``).

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


def get_config():
    steps = 180_000
    config = D.recognition_config("st", "siamese", steps, batch_size=128, lr=0.01, backbone="iresnet50",
                                  losses={"ce": 1.0, "distance": 25.0}, boundaries=[100_000 / steps, 160_000 / steps])
    config.model.backbone_kwargs = {"dropout": 0.5}
    config.siamese.views = ["resolution(size=14)|resize()"]  # distance: cosine_distance
    config.siamese.ce_reduction = "sum"  # eq. 7: CE(HR) + CE(LR) + 25 d
    config.eval.sizes = [7, 14, 28]
    config.scales.smoke = D.smoke_scale()
    return config
