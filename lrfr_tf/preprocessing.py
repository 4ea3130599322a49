"""How a model wants its input: size, channel order and normalisation, as data.

A ``Preprocessing`` travels with every model and embedder (Keras, SavedModel,
TFLite) so that callers never hard-code ``(x - 127.5) / 128``. Images inside
lrfr_tf pipelines are float32 RGB in [0, 255]; ``normalize`` maps them to what
the network expects.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Tuple


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Input contract of an embedding model.

    Attributes:
      size: (height, width) the network is fed.
      mean: subtracted from [0, 255] pixel values.
      scale: multiplied after subtracting ``mean``.
      channels: "RGB" or "BGR" order expected by the network.
      resize_method: tf.image method used to bring crops of another size to ``size``.
    """

    size: Tuple[int, int] = (112, 112)
    mean: float = 127.5
    scale: float = 1.0 / 128.0
    channels: str = "RGB"
    resize_method: str = "bicubic"

    def __post_init__(self):
        if self.channels not in ("RGB", "BGR"):
            raise ValueError(f"channels must be 'RGB' or 'BGR', got {self.channels!r}")
        size = tuple(int(s) for s in self.size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"size must be (height, width) > 0, got {self.size!r}")
        object.__setattr__(self, "size", size)

    def normalize(self, images):
        """float [0, 255] RGB images (any leading dims) -> network input (TF op)."""
        import tensorflow as tf

        x = tf.cast(images, tf.float32)
        if self.channels == "BGR":
            x = x[..., ::-1]
        return (x - self.mean) * self.scale

    def normalize_numpy(self, images):
        import numpy as np

        x = np.asarray(images, dtype=np.float32)
        if self.channels == "BGR":
            x = x[..., ::-1]
        return (x - self.mean) * self.scale

    def get_config(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["size"] = list(self.size)
        return d

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Preprocessing":
        return cls(**{**config, "size": tuple(config.get("size", (112, 112)))})

    def to_json(self) -> str:
        return json.dumps(self.get_config(), sort_keys=True)


#: The ArcFace / MobileFaceNet convention: RGB, 112x112, (x - 127.5) / 128.
ARCFACE = Preprocessing()
