"""Degraded views for training: a recipe's degradation spec applied per element or to a fraction of a batch."""

from __future__ import annotations

from typing import Callable, Optional

import tensorflow as tf

Degradation = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def parse_degradation(spec: str) -> Optional[Degradation]:
    """``degrade.parse(spec)`` (e.g. ``"resolution(sizes=[7,14,20], probs=[1,1,2])"``); "" -> None."""
    if not spec:
        return None
    from lrfr_tf.data import degrade

    return degrade.parse(spec)


def degrade_fraction(images: tf.Tensor, seed: tf.Tensor, degradation: Degradation, fraction: float) -> tf.Tensor:
    """Degrade the first ``round(fraction * B)`` images of a shuffled batch [B, H, W, C].

    Batch training (Knoche et al. 2021, Sec. 5.1): each batch holds exactly that share of
    degraded images; the order of the batch is already random, so which ones is random too.
    Every image gets its own sub-seed of the batch seed.
    """
    batch = tf.shape(images)[0]
    count = tf.cast(tf.round(fraction * tf.cast(batch, tf.float32)), tf.int32)
    seeds = tf.random.experimental.stateless_split(seed, batch)
    degraded = tf.map_fn(lambda a: degradation(a[0], a[1]), (images[:count], seeds[:count]),
                         fn_output_signature=tf.TensorSpec(images.shape[1:], tf.float32))
    return tf.concat([tf.reshape(degraded, tf.shape(images[:count])), images[count:]], axis=0)
