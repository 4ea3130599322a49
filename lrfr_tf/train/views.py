"""Degraded views for training, built from a recipe's degradation spec (lrfr_tf.data.degrade)."""

from __future__ import annotations

def parse_degradation(spec: str):
    """``degrade.parse(spec)`` (e.g. ``"resolution(sizes=[7,14,20], probs=[1,1,2])|resize()"``); "" -> None."""
    if not spec:
        return None
    from lrfr_tf.data import degrade

    return degrade.parse(spec)


def lr_view(degradation, out_key: str):
    """``map_fn(features, seed)`` writing the degraded ``image`` to ``out_key``, back at the image size
    (Knoche et al.: bicubic down, bicubic up). ``out_key="image"`` degrades in place."""
    from lrfr_tf.data import degrade

    return degrade.PairedViews(degradation, key="image", lr_key=out_key, upsample=True)


def batch_mix(degradation, fraction: float):
    """``batch_map_fn``: exactly ``round(fraction * B)`` randomly chosen images of each batch degraded
    (batch training, Knoche et al. 2021); ``batch["degraded"]`` marks them."""
    from lrfr_tf.data import degrade

    back_up = degrade.Degradation(list(degradation.ops) + [degrade.Resize()])  # no-op if already full size
    return degrade.BatchMix(back_up, fraction=fraction, exact=True)


def flipped_with_views(views, flip: bool):
    """``map_fn(features, seed)``: ``image`` flipped with probability 0.5 (``flip``), then each of ``views`` (from
    ``lr_view``) written from it, one seed each: every view shares the face's flip."""
    import tensorflow as tf

    from lrfr_tf.train.method import flip_augment

    def fn(features, seed):
        seeds = tf.random.experimental.stateless_split(seed, 1 + len(views))
        features = flip_augment(features, seeds[0], flip)
        for k, view in enumerate(views):
            features = view(features, seeds[k + 1])
        return features

    return fn
