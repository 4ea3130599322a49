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
