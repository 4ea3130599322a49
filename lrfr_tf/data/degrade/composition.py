"""Composing ops: ``Degradation`` (a fused pipeline), ``PairedViews`` (HR/LR views) and ``BatchMix``."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple


import tensorflow as tf

from lrfr_tf.data.degrade.common import _as_seed, _format_op, _ordered_range, _split
from lrfr_tf.data.degrade.resampling import Size, Stage, _resample
from lrfr_tf.data.degrade.ops import LinearOp, Op, Resize


def _map_samples(fn, images, seeds, out_shape) -> tf.Tensor:
    """[fn(images[i], seeds[i]) for i] stacked: a Python loop eagerly (fast), ``tf.map_fn`` in graphs."""
    if tf.executing_eagerly():
        return tf.stack([fn(x, s) for x, s in zip(images, seeds)]) if len(images) else tf.zeros([0, *out_shape])
    spec = tf.TensorSpec(out_shape, tf.float32)
    return tf.map_fn(lambda a: fn(a[0], a[1]), (images, seeds), fn_output_signature=spec)


class Degradation:
    """A sequence of ops applied left to right; ``deg(image, seed)``.

    One image [H, W, C] with a seed [2] (or a Python int), or a batch
    [B, H, W, C] with a batch seed: sample i then uses ``stateless_split(seed, B)[i]``
    as its own seed (per-sample randomness). Op k of a sample gets
    ``stateless_split(sample_seed, len(ops))[k]``. Consecutive linear ops are
    fused (see the module docstring); the output is clipped to [0, 255]. ``fuse=False`` runs each
    linear op alone, resizes as ``tf.image.resize`` (``_resample``).
    """

    def __init__(self, ops: Sequence[Op], fuse: bool = True):
        for op in ops:
            if not isinstance(op, Op):
                raise TypeError(f"Degradation takes Op instances, got {op!r}")
        self.ops = list(ops)
        self.fuse = bool(fuse)

    @tf.autograph.experimental.do_not_convert
    def __call__(self, images, seed):
        images = tf.convert_to_tensor(images, tf.float32)
        if images.shape.rank == 4:
            return self._batch(images, _as_seed(seed))
        if images.shape.rank != 3:
            raise ValueError(f"images must be [H, W, C] or [B, H, W, C], got shape {images.shape}")
        return self._single(images, _as_seed(seed))

    def _single(self, image, seed):
        if not self.ops:
            return image
        seeds = tf.unstack(_split(seed, len(self.ops)))
        origin = size = Size.of(image)
        pending: List[Stage] = []
        for op, op_seed in zip(self.ops, seeds):
            if isinstance(op, LinearOp):
                new = op.stages(size, op_seed, origin)
                pending.extend(new)
                size = new[-1].out if new else size
            else:  # non-linear ops keep the size (and its support)
                if pending:
                    image, pending = _resample(image, pending, self.fuse), []
                image = op(image, op_seed)
        return _resample(image, pending, self.fuse) if pending else image

    def _fixed_resizes(self, images) -> Optional[List[Stage]]:
        """Unfused, the stages of a degradation made only of fixed-size resizes (nothing drawn at random,
        so one ``tf.image.resize`` per stage serves the whole batch); else None."""
        if self.fuse or not self.ops or not all(isinstance(op, LinearOp) for op in self.ops):
            return None
        origin = size = Size.of(images)
        stages: List[Stage] = []
        for op in self.ops:
            new = op.stages(size, _as_seed(0), origin)
            if any(stage.resize is None or stage.out.index is not None for stage in new):
                return None
            stages.extend(new)
            size = new[-1].out if new else size
        return stages

    def _batch(self, images, seed):
        out_hw = self.output_hw(tuple(images.shape[1:3]))
        if out_hw is None:
            raise ValueError(
                f"a batch needs a static image size and a fixed output size; {self.spec!r} on {images.shape} "
                "gives sizes that vary per sample (end the spec with resize())")
        stages = self._fixed_resizes(images)
        if stages is not None:
            return _resample(images, stages, fuse=False)
        seeds = _split(seed, tf.shape(images)[0])
        return _map_samples(self._single, images, seeds, [out_hw[0], out_hw[1], images.shape[-1]])

    @tf.autograph.experimental.do_not_convert
    def apply_per_sample(self, images, seeds):
        """A batch [B, H, W, C] with one seed [2] per sample ([B, 2]): sample i gets exactly the pixels
        ``deg(images[i], seeds[i])`` gives (how evaluation reproduces what a training pipeline produced)."""
        images = tf.convert_to_tensor(images, tf.float32)
        out_hw = self.output_hw(tuple(images.shape[1:3]))
        if images.shape.rank != 4 or out_hw is None:
            raise ValueError(f"apply_per_sample needs a batch [B, H, W, C] of static size and a fixed output size; "
                             f"got {images.shape} for {self.spec!r} (end the spec with resize())")
        seeds = tf.convert_to_tensor(seeds, tf.int64)
        return _map_samples(self._single, images, seeds, [out_hw[0], out_hw[1], images.shape[-1]])

    def output_hw(self, hw: Tuple[Optional[int], Optional[int]]) -> Optional[Tuple[int, int]]:
        """Static output size for the static input size ``hw``, or None if it varies per sample."""
        origin = out = None if None in tuple(hw) else tuple(hw)
        for op in self.ops:
            out = op.output_hw(out, origin)
        return None if out is None or None in out else tuple(out)

    def map_fn(self, key: str = "image", out_key: str = "lr", upsample: bool = True) -> "PairedViews":
        """A ``map_fn(features, seed)`` for ``make_dataset`` writing the degraded ``key`` to ``out_key``.

        ``out_key=key`` degrades in place. See ``PairedViews`` for ``upsample``.
        """
        return PairedViews(self, key=key, lr_key=out_key, upsample=upsample)

    # config / spec round trip
    def get_config(self) -> List[Dict[str, Any]]:
        return [{"op": op.name, **op.get_config()} for op in self.ops]

    @classmethod
    def from_config(cls, config) -> "Degradation":
        return _build(config)

    @property
    def spec(self) -> str:
        return "|".join(_format_op(op) for op in self.ops)

    def __repr__(self) -> str:
        return f"Degradation({self.spec!r}{'' if self.fuse else ', fuse=False'})"

    def __len__(self) -> int:
        return len(self.ops)


class PairedViews:
    """``map_fn(features, seed)``: the same face as HR (``key``) and LR (``lr_key``).

    The optional ``geometric`` degradation (e.g. ``"flip|crop(0.9, 1)"``) is drawn
    once and applied to the image; the result is the HR view and the LR view is
    ``degradation`` of that same HR view, so both share every flip and crop.
    ``upsample=True`` brings the LR view back to the HR size (bicubic, as in
    Knoche et al.) when the degradation ends elsewhere; ``upsample=False`` keeps
    the LR size (for SR nets with small inputs), which must then be fixed.
    """

    def __init__(self, degradation, geometric=None, upsample: bool = True, key: str = "image",
                 lr_key: str = "lr"):
        self.degradation = _build(degradation)
        self.geometric = None if geometric is None else _build(geometric)
        self.upsample, self.key, self.lr_key = bool(upsample), key, lr_key
        self._lr = Degradation(self.degradation.ops + [Resize()]) if self.upsample else self.degradation

    @tf.autograph.experimental.do_not_convert
    def __call__(self, features: Mapping[str, tf.Tensor], seed) -> Dict[str, tf.Tensor]:
        if self.key not in features:
            raise KeyError(f"PairedViews: features have no {self.key!r} (keys: {sorted(features)})")
        image = tf.convert_to_tensor(features[self.key], tf.float32)
        geo_seed, deg_seed = tf.unstack(_split(_as_seed(seed), 2))
        hw = tuple(image.shape[-3:-1])
        if self.geometric is not None:
            if None not in hw and self.geometric.output_hw(hw) != hw:
                raise ValueError(f"geometric augmentation {self.geometric.spec!r} must keep the image size {hw}")
            image = self.geometric(image, geo_seed)
        if not self.upsample and self._lr.output_hw(hw) is None:
            raise ValueError(f"upsample=False needs a fixed LR size, but {self._lr.spec!r} on {hw} gives sizes that "
                             "vary per sample; use a fixed size such as resolution(size=28)")
        out = dict(features)
        out[self.key] = image
        out[self.lr_key] = self._lr(image, deg_seed)
        return out


class BatchMix:
    """``batch_map_fn(batch, seed)``: degrade a fraction of each batch and mark it in ``mask_key``.

    ``exact=True`` degrades exactly round(fraction * B) samples of every batch
    (chosen at random): the batch composition is constant, as in BT's "half of
    every batch". ``exact=False`` degrades each sample independently with
    probability ``fraction`` (the count is Binomial(B, fraction)). Sample i of a
    batch, if chosen, gets the same result as ``degradation(batch, seed')[i]``
    with seed' the degradation seed; ``mask_key`` (bool [B]) tells losses which
    samples are degraded. The degradation must keep the image size.
    """

    def __init__(self, degradation, fraction: float = 0.5, exact: bool = True, key: str = "image",
                 mask_key: str = "degraded"):
        self.degradation = _build(degradation)
        _ordered_range("BatchMix", "fraction", fraction, "fraction", None, 0.0, 1.0)
        self.fraction, self.exact, self.key, self.mask_key = float(fraction), bool(exact), key, mask_key

    def mask(self, batch_size, seed) -> tf.Tensor:
        """bool [B]: which samples of the batch are degraded."""
        u = tf.random.stateless_uniform([batch_size], seed)
        if not self.exact:
            return u < self.fraction
        count = tf.cast(tf.round(self.fraction * tf.cast(batch_size, tf.float32)), tf.int32)
        rank = tf.argsort(tf.argsort(u))
        return rank < count

    @tf.autograph.experimental.do_not_convert
    def __call__(self, batch: Mapping[str, tf.Tensor], seed) -> Dict[str, tf.Tensor]:
        images = tf.convert_to_tensor(batch[self.key], tf.float32)
        mask_seed, deg_seed = tf.unstack(_split(_as_seed(seed), 2))
        mask = self.mask(tf.shape(images)[0], mask_seed)
        index = tf.where(mask)
        seeds = tf.gather_nd(_split(deg_seed, tf.shape(images)[0]), index)
        chosen = tf.gather_nd(images, index)
        in_hw = tuple(images.shape[1:3])
        if None in in_hw or self.degradation.output_hw(in_hw) != in_hw:
            raise ValueError(f"BatchMix: {self.degradation.spec!r} must map images {in_hw} to the same static size "
                             "(end it with resize())")
        degraded = _map_samples(self.degradation._single, chosen, seeds, images.shape[1:])
        out = dict(batch)
        out[self.key] = tf.tensor_scatter_nd_update(images, index, degraded)
        out[self.mask_key] = mask
        return out


def _build(config) -> "Degradation":
    """``spec.build`` (spec builds Degradations, so it is imported when called)."""
    from lrfr_tf.data.degrade.spec import build

    return build(config)
