"""ST-M1: multi-resolution siamese training with two branches (HR + one LR at a random size).

Paper: Knoche, Hörmann, Rigoll (arXiv 2107.03769), multi-resolution siamese training: as ``st``
but the LR branch's size is drawn per image from {7, 14, 28, 56} px; loss (eq. 7) = the SUM of the
ArcFace cross-entropies (Deng et al. 2019, eq. 3) of the two branches + 25 * d_cos(f(HR), f(LR))
(Knoche et al., eq. 6; weight 25 for two branches): ``siamese.ce_reduction = "sum"``.

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


def get_config():
    steps = 180_000
    config = D.recognition_config("st_m1", "siamese", steps, batch_size=128, lr=0.01, backbone="iresnet50",
                                  losses={"ce": 1.0, "distance": 25.0}, boundaries=[100_000 / steps, 160_000 / steps])
    config.model.backbone_kwargs = {"dropout": 0.5}
    config.siamese.views = ["resolution(sizes=[7, 14, 28, 56])|resize()"]  # distance: cosine_distance
    config.siamese.ce_reduction = "sum"  # eq. 7: CE(HR) + CE(LR) + 25 d
    config.eval.sizes = [7, 14, 28, 56]
    config.scales.smoke = D.smoke_scale()
    return config
