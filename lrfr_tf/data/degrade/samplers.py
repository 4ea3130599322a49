"""Resolution samplers: a fixed size, discrete sizes with probabilities, or a range (per-sample, stateless)."""

from __future__ import annotations

import math
from typing import Optional, Tuple

import tensorflow as tf

from lrfr_tf.data.degrade.common import SIZE_PRESETS


def _size_pair(value, arg: str) -> Tuple[int, int]:
    """r or (h, w) -> (h, w) of positive ints."""
    if isinstance(value, (int,)) and not isinstance(value, bool):
        pair = (value, value)
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        pair = tuple(value)
    else:
        raise ValueError(f"{arg} must be an int r or a pair (h, w) such as 11x8, got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ValueError(f"{arg} must hold positive ints, got {value!r}")
    return pair


class _Sampler:
    """Draws a size per sample from a finite static ``support`` of (h, w) pairs.

    ``sample_index(seed)`` gives the entry (an int32 scalar tensor, or None when
    the support has one entry); ``__call__(seed)`` gives the size as int32 [2].
    Linear ops use the index to look resampling matrices up in precomputed tables.
    """

    support: Tuple[Tuple[int, int], ...] = ()

    @property
    def fixed_hw(self) -> Optional[Tuple[int, int]]:
        return self.support[0] if len(set(self.support)) == 1 else None

    def sample_index(self, seed) -> Optional[tf.Tensor]:
        raise NotImplementedError

    def __call__(self, seed) -> tf.Tensor:
        index = self.sample_index(seed)
        table = tf.constant(self.support, tf.int32)
        return table[0] if index is None else tf.gather(table, index)


class FixedSize(_Sampler):
    """Always the same size (h, w)."""

    def __init__(self, size):
        self.support = (_size_pair(size, "size"),)

    def sample_index(self, seed):
        return None


class DiscreteSizes(_Sampler):
    """One of ``sizes`` (r or (h, w) each), drawn with probabilities proportional to ``probs``."""

    def __init__(self, sizes, probs=None):
        if not isinstance(sizes, (list, tuple)) or not sizes:
            raise ValueError(f"sizes must be a non-empty list, got {sizes!r}")
        self.sizes = [_size_pair(s, "each of sizes") for s in sizes]
        probs = [1.0] * len(self.sizes) if probs is None else probs
        if not isinstance(probs, (list, tuple)) or len(probs) != len(self.sizes):
            raise ValueError(f"probs must be a list of {len(self.sizes)} numbers (one per size), got {probs!r}")
        if any(isinstance(p, bool) or not isinstance(p, (int, float)) or p < 0 for p in probs) or sum(probs) <= 0:
            raise ValueError(f"probs must be non-negative numbers with a positive sum, got {probs!r}")
        total = float(sum(probs))
        self.probs = [p / total for p in probs]
        self.support = tuple(self.sizes)

    def sample_index(self, seed):
        if len(self.support) == 1:
            return None
        logits = tf.math.log(tf.constant([self.probs], tf.float32))
        return tf.random.stateless_categorical(logits, 1, seed, dtype=tf.int32)[0, 0]


class SizeRange(_Sampler):
    """A side length from {low, ..., high}: uniform, or log-uniform (``log=True``).

    Log-uniform draws u ~ U[log low, log(high + 1)) and takes floor(exp(u)), so
    P(r) is proportional to log((r + 1) / r): small sizes are drawn more often.
    Height is the side length; width is round(height * aspect), at least 1.
    """

    def __init__(self, low: int, high: int, log: bool = False, aspect: float = 1.0):
        for name, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if high < low:
            raise ValueError(f"high ({high}) must be >= low ({low})")
        if isinstance(aspect, bool) or not isinstance(aspect, (int, float)) or aspect <= 0:
            raise ValueError(f"aspect (width / height) must be a positive number, got {aspect!r}")
        self.low, self.high, self.log, self.aspect = low, high, bool(log), float(aspect)
        self.support = tuple((h, max(1, round(h * self.aspect))) for h in range(low, high + 1))

    def sample_index(self, seed):
        if self.low == self.high:
            return None
        if self.log:
            u = tf.random.stateless_uniform([], seed, math.log(self.low), math.log(self.high + 1))
            return tf.clip_by_value(tf.cast(tf.floor(tf.exp(u)), tf.int32) - self.low, 0, self.high - self.low)
        return tf.random.stateless_uniform([], seed, 0, self.high - self.low + 1, dtype=tf.int32)


def make_sampler(size=None, sizes=None, probs=None, low=None, high=None, log=False, aspect=1.0, preset=None):
    """A resolution sampler from exactly one of: size | sizes (+probs) | low, high (+log, aspect) | preset."""
    given = [name for name, v in (("size", size), ("sizes", sizes), ("low/high", low if low is not None else high),
                                  ("preset", preset)) if v is not None]
    if len(given) != 1:
        raise ValueError(
            "give exactly one of size=, sizes= (with probs=), low= and high= (with log=, aspect=) or preset=; "
            f"got {', '.join(given) or 'none'}")
    if probs is not None and sizes is None:
        raise ValueError("probs= needs sizes=")
    if (log or aspect != 1.0) and low is None and high is None:
        raise ValueError("log= and aspect= apply to a low=/high= range only")
    if size is not None:
        return FixedSize(size)
    if sizes is not None:
        return DiscreteSizes(sizes, probs)
    if preset is not None:
        if preset not in SIZE_PRESETS:
            raise ValueError(f"unknown size preset {preset!r}; known: {', '.join(sorted(SIZE_PRESETS))}")
        return make_sampler(**SIZE_PRESETS[preset])
    if low is None or high is None:
        raise ValueError("a range needs both low= and high=")
    return SizeRange(low, high, log=log, aspect=aspect)


