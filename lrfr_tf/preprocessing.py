"""How a model wants its input: size, channel order and normalisation, as data.

A ``Preprocessing`` travels with every model and embedder (Keras, SavedModel,
TFLite) so that callers never hard-code ``(x - 127.5) / 128``. Images inside
lrfr_tf pipelines are float32 RGB in [0, 255]; ``normalize`` maps them to what
the network expects.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Optional, Tuple


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Input contract of an embedding model.

    Attributes:
      size: (height, width) the network is fed.
      mean: subtracted from [0, 255] pixel values.
      scale: multiplied after subtracting ``mean``.
      channels: "RGB" or "BGR" order expected by the network.
      resize_method: tf.image method used to bring crops of another size to ``size``.
      crop: optional (height, width) centre crop, in pixels of an ``aligned_size`` face, taken from the
        aligned face before it is resized to ``size``. ``crop=(112, 96)`` is the SphereFace / CosFace
        112x96 convention: the ArcFace 112x112 template is the 112x96 one with 8 px more on each side, so
        the centre crop gives back the face the model was trained on (squashing 112 -> 96 columns does
        not). Faces of another size (a degraded probe at its native resolution) are cropped in proportion.
      aligned_size: (height, width) of the aligned faces ``crop`` refers to (the ArcFace template's 112x112).
    """

    size: Tuple[int, int] = (112, 112)
    mean: float = 127.5
    scale: float = 1.0 / 128.0
    channels: str = "RGB"
    resize_method: str = "bicubic"
    crop: Optional[Tuple[int, int]] = None
    aligned_size: Tuple[int, int] = (112, 112)

    def __post_init__(self):
        if self.channels not in ("RGB", "BGR"):
            raise ValueError(f"channels must be 'RGB' or 'BGR', got {self.channels!r}")
        size = tuple(int(s) for s in self.size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"size must be (height, width) > 0, got {self.size!r}")
        object.__setattr__(self, "size", size)
        aligned = tuple(int(s) for s in self.aligned_size)
        if len(aligned) != 2 or min(aligned) <= 0:
            raise ValueError(f"aligned_size must be (height, width) > 0, got {self.aligned_size!r}")
        object.__setattr__(self, "aligned_size", aligned)
        if self.crop is not None:
            crop = tuple(int(c) for c in self.crop)
            if len(crop) != 2 or min(crop) <= 0 or crop[0] > aligned[0] or crop[1] > aligned[1]:
                raise ValueError(f"crop must be (height, width) within aligned_size {aligned}, got {self.crop!r}")
            object.__setattr__(self, "crop", crop)

    def crop_box(self, height: int, width: int) -> Tuple[int, int, int, int]:
        """(top, left, crop height, crop width) of the centre crop for a face of ``height`` x ``width``."""
        if self.crop is None:
            return 0, 0, height, width
        ch = max(1, int(round(height * self.crop[0] / self.aligned_size[0])))
        cw = max(1, int(round(width * self.crop[1] / self.aligned_size[1])))
        return (height - ch) // 2, (width - cw) // 2, ch, cw

    def apply_crop(self, images):
        """The centre crop of [..., H, W, C] images (NumPy arrays or tensors with static H, W); identity if
        ``crop`` is None. The harness, export and edge runtime crop with this one function."""
        if self.crop is None:
            return images
        height, width = int(images.shape[-3]), int(images.shape[-2])
        top, left, ch, cw = self.crop_box(height, width)
        return images[..., top:top + ch, left:left + cw, :]

    def normalize(self, images):
        """float [0, 255] RGB images (any leading dims) -> network input (TF op)."""
        import tensorflow as tf

        x = tf.cast(images, tf.float32)
        if self.channels == "BGR":
            x = x[..., ::-1]
        return (x - self.mean) * self.scale

    def prepare(self, images):
        """float [0, 255] RGB [B, H, W, 3] of any size -> network input (TF ops): centre crop, resize to ``size``
        (``resize_method``, antialiased) when it differs, clip to [0, 255], normalise. The training graph's
        twin of ``lrfr_tf.eval.embedders.prepare_images``, which calls it whenever it resizes."""
        import tensorflow as tf

        x = self.apply_crop(tf.cast(images, tf.float32))
        if tuple(x.shape[-3:-1]) != self.size:
            x = tf.image.resize(x, self.size, method=self.resize_method, antialias=True)
            x = tf.clip_by_value(x, 0.0, 255.0)
        return self.normalize(x)

    def normalize_numpy(self, images):
        import numpy as np

        x = np.asarray(images, dtype=np.float32)
        if self.channels == "BGR":
            x = x[..., ::-1]
        return (x - self.mean) * self.scale

    def get_config(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["size"] = list(self.size)
        d["aligned_size"] = list(self.aligned_size)
        if self.crop is None:  # configs written before crop existed stay byte-identical
            del d["crop"], d["aligned_size"]
        else:
            d["crop"] = list(self.crop)
        return d

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Preprocessing":
        crop = config.get("crop")
        return cls(**{**config, "size": tuple(config.get("size", (112, 112))),
                      "crop": tuple(crop) if crop is not None else None,
                      "aligned_size": tuple(config.get("aligned_size", (112, 112)))})

    def to_json(self) -> str:
        return json.dumps(self.get_config(), sort_keys=True)


#: The ArcFace 112x112 five-point alignment template, (x, y) in pixels of the aligned face, in image order: the eye
#: on the image's left (the subject's right), the other eye, the nose tip, the left and right mouth corners
#: (Deng et al. 2019, insightface). Every aligned face lrfr_tf reads or makes has its landmarks here.
ARCFACE_TEMPLATE_112 = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041))

#: The ArcFace / MobileFaceNet convention: RGB, 112x112, (x - 127.5) / 128.
ARCFACE = Preprocessing()

#: The SphereFace / CosFace convention: the centre 112x96 of an ArcFace-aligned 112x112 face, (x - 127.5) / 128.
SPHEREFACE_112X96 = Preprocessing(size=(112, 96), crop=(112, 96))

#: Named contracts for ``--preprocessing=NAME``.
PRESETS = {"arcface": ARCFACE, "sphereface_112x96": SPHEREFACE_112X96}


def as_preprocessing(spec: Any) -> Optional[Preprocessing]:
    """A ``Preprocessing`` from itself, a config dict, a ``PRESETS`` name, a JSON file or JSON text.

    None stays None: "not given", the caller picks the default (``ARCFACE`` for a backbone, the next
    source for an embedder). Anything else unusable is a ValueError or TypeError naming it.
    """
    if spec is None or isinstance(spec, Preprocessing):
        return spec
    if isinstance(spec, dict):
        return Preprocessing.from_config(spec)
    if isinstance(spec, str):
        if spec.lower() in PRESETS:
            return PRESETS[spec.lower()]
        if os.path.isfile(spec):
            with open(spec, "r", encoding="utf-8") as f:
                return Preprocessing.from_config(json.load(f))
        try:
            return Preprocessing.from_config(json.loads(spec))
        except json.JSONDecodeError:
            raise ValueError(f"preprocessing {spec!r} is not one of {', '.join(PRESETS)}, a JSON file or a JSON config") from None
    raise TypeError(f"cannot make a Preprocessing from {type(spec).__name__}")
