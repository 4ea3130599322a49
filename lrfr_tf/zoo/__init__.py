"""Models trained by lrfr_tf and shipped inside the package (no ../shared, no download).

``zoo_path(name, fmt)`` is a shipped file ("tflite": the gated fp16 export, "metadata": its JSON, "tflite_int8" /
"metadata_int8": the gated full-integer export and its JSON, "keras": the Keras embedder, "card": MODEL_CARD.md).
``python -m lrfr_tf.evaluate``, ``calibrate``, ``export`` and ``edge`` take ``--model=zoo:NAME`` (its .tflite when it
has one, else its .keras) or ``--model=zoo:NAME.keras`` (``resolve_model``). Each model's folder holds MODEL_CARD.md: data, recipe, command, figures.

TensorFlow-free: the edge runtime uses it.
"""

from __future__ import annotations

import os
from typing import Dict

ROOT = os.path.dirname(os.path.abspath(__file__))
PREFIX = "zoo:"
#: name -> {format: file in the model's folder}
MODELS: Dict[str, Dict[str, str]] = {
    # tflite: the gated fp16 export with the calibrated per-resolution thresholds in its metadata ("metadata":
    # the same as JSON; results/export/mobilefacenet_lr_distill_fp16/ holds the export's report and gate plot);
    # tflite_int8: the gated int8 export (float stem, int8 I/O; results/export/mobilefacenet_lr_distill_int8/).
    "mobilefacenet_lr_distill": {"tflite": "model_fp16.tflite", "metadata": "model_fp16.json",
                                 "tflite_int8": "model_int8.tflite", "metadata_int8": "model_int8.json",
                                 "keras": "embedder.keras", "card": "MODEL_CARD.md"},
}


def zoo_path(name: str, fmt: str = "tflite") -> str:
    """Path of the shipped model ``name`` in ``fmt`` ("tflite", "keras", "card"); ValueError naming what exists."""
    if name not in MODELS:
        raise ValueError(f"zoo:{name}: no such shipped model; shipped: {', '.join(sorted(MODELS))}")
    files = MODELS[name]
    if fmt not in files:
        raise ValueError(f"zoo:{name}: no {fmt!r} file; formats: {', '.join(files)}")
    path = os.path.join(ROOT, name, files[fmt])
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: the shipped file of zoo:{name} is missing (a broken install?)")
    return path


def resolve_model(arg):
    """``zoo:NAME`` -> the shipped .tflite, ``zoo:NAME.keras`` -> its Keras embedder; anything else unchanged."""
    if not isinstance(arg, str) or not arg.startswith(PREFIX):
        return arg
    name = arg[len(PREFIX):]
    if name.endswith(".keras"):
        return zoo_path(name[: -len(".keras")], "keras")
    return zoo_path(name, "tflite" if "tflite" in MODELS.get(name, {}) else "keras")
