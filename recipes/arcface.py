"""ArcFace HR baseline: an IResNet trained with the additive angular margin on full-resolution faces.

Paper: Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019.
Loss: softmax cross-entropy over s * cos(theta_y + m) for the target class (eq. 3), s = 64,
m = 0.5. Training (Sec. 4.1): LResNet100E-IR (``iresnet100``), 512-d embedding, batch 512,
SGD momentum 0.9, weight decay 5e-4 (coupled L2 as in MXNet's SGD: ``5e-4 * w`` added to the gradient
before the momentum; ``weight_decay_mode``), lr 0.1 divided by 10 at 100k and 160k, 180k iterations.

Data: an identity-labelled face set aligned to 112x112 (ArcFace template): the paper uses
MS1MV2 (85k identities, 5.8M images) - pack it to TFRecords with lrfr_tf.data and pass
``--config.data.train='/data/ms1mv2/train-*.tfrecord'`` (or an identity folder).

Command (full): python -m lrfr_tf.train --recipe=arcface --config.data.train=/data/ms1mv2/train-*.tfrecord
Command (smoke, CPU, embedded sample): python -m lrfr_tf.train --recipe=arcface --config.scale=smoke

Expected: LFW 99.83% at 112 px (the paper's MS1MV2 + ResNet100 result). Without low-resolution training
the accuracy collapses at low resolution (the pretrained MobileFaceNet measured in results/reference: 99.23% at
112 px, 51.88% when one face of each LFW pair is 5 px; Knoche et al. 2021 show the same collapse): this recipe is
the baseline the low-resolution recipes are compared with. Smoke scale only checks the pipeline.
"""

from lrfr_tf.train import defaults as D


def get_config():
    steps = 180_000
    config = D.recognition_config("arcface", "classifier", steps, batch_size=512, backbone="iresnet100",
                                  head="arcface", head_kwargs={"scale": 64.0, "margin": 0.5}, lr=0.1,
                                  boundaries=[100_000 / steps, 160_000 / steps], weight_decay=5e-4,
                                  weight_decay_mode="coupled")
    config.scales.smoke = D.smoke_scale(steps=6)
    return config
