"""Registries of model components: ``create_backbone("iresnet50", embedding_dim=512)``."""

from lrfr_tf.registry import Registry

BACKBONES = Registry("backbone")
HEADS = Registry("head")
SR_NETS = Registry("sr_net")


def create_backbone(name: str, **kwargs):
    return BACKBONES.create(name, **kwargs)


def create_head(name: str, **kwargs):
    return HEADS.create(name, **kwargs)


def create_sr_net(name: str, **kwargs):
    return SR_NETS.create(name, **kwargs)
