"""The resolution degradation applied to evaluation images (Knoche et al. 2021, Sec. 3).

``ResolutionDegradation`` runs the training ops ``resolution(size=r)|resize()``
(``lrfr_tf.data.degrade``, unfused: each a ``tf.image.resize``, the arithmetic of
the committed reference figures): down-sample to ``r`` x ``r`` (bicubic with
antialiasing by default) and up-sample back to the image size. Images stay float32 in [0, 255] all the way
to the embedder: nothing is rounded to 8 bits unless ``round_to_uint8=True``,
which rounds the up-sampled image to integers, i.e. simulates a degraded image
saved as an 8-bit 112 px file. A size at or above the image size is no
degradation (the full-resolution input, shared by every kernel).

``SpecDegradation(spec)`` evaluates under any training degradation spec
(``python -m lrfr_tf.evaluate --degradation=camera``): the spec's ops
(``lrfr_tf.data.degrade``, the very ops training uses) with every
``resolution`` op fixed to the size the protocol asks for. Each image's
randomness (blur, noise, JPEG quality) comes from (``seed``, a hash of the
image's pixels), so an image gets the same degradation in every batch and run.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any, Dict, Optional

import numpy as np

from lrfr_tf.data.degrade import KERNELS, Degradation, Resize, Resolution, parse

#: Key of the undegraded input in caches and reports.
HR_KEY = "hr"


@dataclasses.dataclass(frozen=True)
class ResolutionDegradation:
    kernel: str = "bicubic"
    antialias: bool = True
    up_kernel: Optional[str] = None  # None: same as ``kernel``
    round_to_uint8: bool = False

    def __post_init__(self):
        for k in (self.kernel, self.up_kernel or self.kernel):
            if k not in KERNELS:
                raise ValueError(f"degradation kernel must be one of {KERNELS}, got {k!r}")

    def is_identity(self, size: int, image_hw) -> bool:
        """True for ``size`` 0 (protocols.HR) or >= both image sides."""
        return size == 0 or (size >= image_hw[0] and size >= image_hw[1])

    def key(self, size: int, image_hw) -> str:
        """Identifies the input an image becomes: ``"hr"`` or e.g. ``"bicubic-aa-bicubic-8"``."""
        if self.is_identity(size, image_hw):
            return HR_KEY
        aa = "-aa" if self.antialias else ""
        u8 = "-u8" if self.round_to_uint8 else ""
        return f"{self.kernel}{aa}-{self.up_kernel or self.kernel}-{int(size)}{u8}"

    def at_size(self, size: int) -> Degradation:
        """``resolution(size)|resize()`` with this kernel, antialias and up kernel, unfused."""
        return Degradation([Resolution(size=int(size), kernel=self.kernel, antialias=self.antialias),
                            Resize(kernel=self.up_kernel or self.kernel)], fuse=False)

    def __call__(self, images, size: int) -> np.ndarray:
        """float/uint8 [B, H, W, 3] in [0, 255] -> float32 degraded to ``size``, same shape."""
        x = np.asarray(images, np.float32)
        if self.is_identity(size, x.shape[-3:-1]):
            return x
        y = self.at_size(size)(x, 0).numpy()
        return np.round(y) if self.round_to_uint8 else y

    def describe(self) -> Dict[str, Any]:
        return {
            "function": "lrfr_tf.data.degrade: resolution(size=r)|resize(), unfused (tf.image.resize down, then up)",
            "kernel": self.kernel,
            "antialias": self.antialias,
            "up_kernel": self.up_kernel or self.kernel,
            "round_to_uint8": self.round_to_uint8,
            "embedder_input": "uint8-rounded float" if self.round_to_uint8 else "float32 (not rounded)",
        }


@dataclasses.dataclass(frozen=True)
class SpecDegradation:
    """A degradation spec evaluated at the protocol's size (see the module docstring).

    ``spec``: a spec string or preset name with at least one ``resolution`` op; ``seed``: the base of every
    image's seed. Size 0 (``protocols.HR``) is the undegraded image; any other size, 112 included, runs the
    whole spec (a camera at 112 px still blurs, adds noise and compresses).
    """

    spec: str
    seed: int = 0
    parsed: Degradation = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        parsed = parse(self.spec)  # a bad spec is a ValueError naming it
        if not any(isinstance(op, Resolution) for op in parsed.ops):
            raise ValueError(f"degradation spec {self.spec!r} has no resolution(...) op for the protocol's size")
        object.__setattr__(self, "parsed", parsed)

    def at_size(self, size: int) -> Degradation:
        """The spec with every ``resolution`` op fixed to ``size`` (its kernel and antialias kept)."""
        return Degradation([Resolution(size=int(size), kernel=op.kernel, antialias=op.antialias)
                            if isinstance(op, Resolution) else op for op in self.parsed.ops])

    def image_seeds(self, images: np.ndarray) -> np.ndarray:
        """[B, 2] int64 seeds: (``seed``, CRC-32 of each image's float32 pixels)."""
        return np.asarray([[self.seed, zlib.crc32(np.ascontiguousarray(im, np.float32).tobytes())] for im in images],
                          np.int64)

    def is_identity(self, size: int, image_hw) -> bool:
        return size == 0

    def key(self, size: int, image_hw) -> str:
        if self.is_identity(size, image_hw):
            return HR_KEY
        return f"spec-{zlib.crc32(self.parsed.spec.encode()):08x}-seed{self.seed}-{int(size)}"

    def __call__(self, images, size: int, seeds=None) -> np.ndarray:
        """float/uint8 [B, H, W, 3] in [0, 255] -> float32 [B, H, W, 3] under the spec at ``size``."""
        x = np.asarray(images, np.float32)
        if self.is_identity(size, x.shape[-3:-1]) or len(x) == 0:
            return x
        seeds = self.image_seeds(x) if seeds is None else np.asarray(seeds, np.int64)
        return self.at_size(size).apply_per_sample(x, seeds).numpy()

    def describe(self) -> Dict[str, Any]:
        return {"function": "lrfr_tf.data.degrade (spec ops, resolution fixed to the protocol size)",
                "spec": self.parsed.spec, "seed": self.seed,
                "per_image_seed": "(seed, crc32 of the image's float32 pixels)",
                "embedder_input": "float32 (not rounded)"}
