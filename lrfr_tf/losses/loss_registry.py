"""Registry of losses: ``create_loss("logexp", p=2)``."""

from lrfr_tf.registry import Registry

LOSSES = Registry("loss")


def create_loss(name: str, **kwargs):
    return LOSSES.create(name, **kwargs)
