"""MAug + LogExp: multi-resolution augmentation (7/14/20 px at 1:1:2) with the LogExp feature contrast.

Method: a siamese HR/LR pair whose LR copy is drawn per image from {7, 14, 20} px with
probabilities 1:1:2 (``lrfr_tf.data.degrade`` preset ``maug_7_14_20``: bicubic down, bicubic up to 112);
loss = ArcFace cross-entropy (Deng et al. 2019, eq. 3) on both branches + w * LogExp(f(HR), f(LR)),
LogExp(x, y) = log(1 + sum_i (exp(|x_i - y_i|^p) - 1)) / (p D) with p = 2 on L2-normalised
embeddings (``lrfr_tf.losses.distance.logexp_distance``), w = 25.

Data: aligned 112x112 identity set; optional ``--config.model.init=`` HR model to fine-tune.

Command: python -m lrfr_tf.train --recipe=maug_logexp --config.data.train=/data/ms1mv2/train-*.tfrecord
Smoke:   python -m lrfr_tf.train --recipe=maug_logexp --config.scale=smoke

Expected: higher cross-resolution accuracy at 7-20 px than the HR baseline (``arcface``) with a
small loss at 112 px; compare on LFW CR at 7/14/20 px with ``lrfr_tf.evaluate``.
"""

from lrfr_tf.train import defaults as D


def get_config():
    steps = 180_000
    config = D.recognition_config("maug_logexp", "siamese", steps, backbone="iresnet50",
                                  losses={"ce": 1.0, "distance": 25.0}, boundaries=[100_000 / steps, 160_000 / steps])
    config.siamese.views = ["maug_7_14_20"]
    config.siamese.distance = "logexp"
    config.siamese.distance_kwargs = {"p": 2.0, "l2_normalize": True}
    config.eval.sizes = [7, 14, 20]
    config.scales.smoke = D.smoke_scale()
    return config
