"""The resolution degradation applied to evaluation images (Knoche et al. 2021, Sec. 3).

``ResolutionDegradation(size)`` wraps ``lrfr_tf.data.degrade.reduce_resolution``:
down-sample to ``size`` x ``size`` (bicubic with antialiasing by default) and
up-sample back to the image size. Images stay float32 in [0, 255] all the way
to the embedder: nothing is rounded to 8 bits unless ``round_to_uint8=True``,
which rounds the up-sampled image to integers, i.e. simulates a degraded image
saved as an 8-bit 112 px file. A size at or above the image size is no
degradation (the full-resolution input, shared by every kernel).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

import numpy as np

from lrfr_tf.data.degrade import KERNELS, reduce_resolution

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

    def __call__(self, images, size: int) -> np.ndarray:
        """float/uint8 [B, H, W, 3] in [0, 255] -> float32 degraded to ``size``, same shape."""
        x = np.asarray(images, np.float32)
        if self.is_identity(size, x.shape[-3:-1]):
            return x
        y = reduce_resolution(x, int(size), kernel=self.kernel, antialias=self.antialias, up_kernel=self.up_kernel).numpy()
        return np.round(y) if self.round_to_uint8 else y

    def describe(self) -> Dict[str, Any]:
        return {
            "function": "lrfr_tf.data.degrade.reduce_resolution",
            "kernel": self.kernel,
            "antialias": self.antialias,
            "up_kernel": self.up_kernel or self.kernel,
            "round_to_uint8": self.round_to_uint8,
            "embedder_input": "uint8-rounded float" if self.round_to_uint8 else "float32 (not rounded)",
        }
