"""What can be exported: anything ``python -m lrfr_tf.evaluate --model`` takes, plus a training workdir.

``load_source(path)`` returns an ``ExportSource``: a Keras model mapping *normalised* faces
[N, h, w, 3] (its ``Preprocessing``) to raw embeddings [N, D], with the source's kind and sha256.

- ``.keras`` file: any embedder the toolkit writes (backbones, SR + recognizer composites, RIM's
  student + assistant), loaded with the classes of ``lrfr_tf.models``;
- a training workdir: its ``export/embedder.keras``;
- a SavedModel directory: an lrfr_tf export (its ``embed_normalized`` signature) or any SavedModel whose
  ``serving_default`` takes one float image batch and returns one [N, D] tensor;
- a ``.tflite`` file of the MobileFaceNet family (the pretrained model): imported to Keras first
  (``lrfr_tf.models.tflite_import``), weights and structure read from the file.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import numpy as np

from lrfr_tf.preprocessing import Preprocessing

#: The export's float signature a SavedModel source is read through when present.
NORMALIZED_SIGNATURE = "embed_normalized"


@dataclasses.dataclass
class ExportSource:
    model: object  # keras.Model: normalised [N, h, w, 3] -> [N, D]
    preprocessing: Preprocessing
    kind: str  # "keras" | "workdir" | "saved_model" | "tflite"
    path: str  # as given
    sha256: str
    name: str
    embedding_dim: int = 0


def resolve_source(path: str) -> tuple:
    """(kind, file or folder to load) or ValueError/FileNotFoundError naming ``path``."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"--model={path}: no such file or directory")
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return "saved_model", path
        embedder = os.path.join(path, "export", "embedder.keras")
        if os.path.isfile(embedder):
            return "workdir", embedder
        raise ValueError(f"--model={path}: a directory but neither a SavedModel (saved_model.pb) nor a training "
                         "workdir (export/embedder.keras)")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".keras":
        return "keras", path
    if ext == ".tflite":
        return "tflite", path
    raise ValueError(f"--model={path}: unknown model format {ext!r}; expected a .keras or .tflite file, a SavedModel "
                     "directory or a training workdir")


def _saved_model_source(path: str, preprocessing: Optional[Preprocessing]):
    import keras
    import tensorflow as tf

    from lrfr_tf.eval.embedders import sidecar_preprocessing

    loaded = tf.saved_model.load(path)
    endpoint = NORMALIZED_SIGNATURE if NORMALIZED_SIGNATURE in loaded.signatures else "serving_default"
    if endpoint not in loaded.signatures:
        raise ValueError(f"--model={path}: SavedModel has no {NORMALIZED_SIGNATURE!r} or 'serving_default' signature "
                         f"(it has {sorted(loaded.signatures)})")
    fn = loaded.signatures[endpoint]
    inputs = fn.structured_input_signature[1]
    outputs = fn.structured_outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"--model={path}: signature {endpoint!r} has inputs {sorted(inputs)} and outputs "
                         f"{sorted(outputs)}; an embedder needs one image input and one [N, D] output")
    (_, spec), = inputs.items()
    if spec.dtype != tf.float32 or spec.shape.rank != 4:
        raise ValueError(f"--model={path}: signature {endpoint!r} takes {spec.dtype.name} {spec.shape}; expected "
                         "float32 [N, H, W, 3] normalised faces")
    pre = preprocessing or sidecar_preprocessing(path)
    if pre is None:
        size = tuple(spec.shape[1:3])
        pre = Preprocessing(size=size) if None not in size else Preprocessing()
    layer = keras.layers.TFSMLayer(path, call_endpoint=endpoint)
    inp = keras.Input((*pre.size, 3), name="images")
    out = layer(inp)
    out = next(iter(out.values())) if isinstance(out, dict) else out
    return keras.Model(inp, out, name=os.path.basename(os.path.normpath(path))), pre


def load_source(path: str, preprocessing: Optional[Preprocessing] = None, name: Optional[str] = None) -> ExportSource:
    """Load ``path`` (see the module docstring); ``preprocessing`` overrides the model's own."""
    from lrfr_tf.eval.embedders import sha256_file, sha256_tree

    path = os.fspath(path)
    kind, target = resolve_source(path)
    if kind == "saved_model":
        model, pre = _saved_model_source(target, preprocessing)
        digest = sha256_tree(target)
    elif kind == "tflite":
        from lrfr_tf.models.mobilefacenet import load_mobilefacenet_tflite
        from lrfr_tf.models.tflite_import import TFLiteImportError

        try:
            model = load_mobilefacenet_tflite(target, preprocessing=preprocessing)
        except TFLiteImportError as e:
            raise ValueError(f"--model={path}: cannot import this .tflite to Keras ({e}); export its source model "
                             "instead") from None
        pre, digest = model.preprocessing, sha256_file(target)
    else:
        import keras

        import lrfr_tf.models  # noqa: F401  (registers the toolkit's serializable classes)

        try:
            model = keras.saving.load_model(target, compile=False)
        except Exception as e:  # a damaged or foreign .keras file: say which file
            raise ValueError(f"--model={path}: cannot load {target} as a Keras model ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''})") from None
        pre = preprocessing or getattr(model, "preprocessing", None) or _sidecar(target)
        digest = sha256_file(target)
    dim = check_embedding_output(model, pre, path)
    stem = os.path.basename(os.path.normpath(path))
    default_name = os.path.splitext(stem)[0] if kind != "workdir" else stem
    return ExportSource(model, pre, kind, path, digest, name or default_name, dim)


def _sidecar(path: str) -> Preprocessing:
    from lrfr_tf.eval.embedders import sidecar_preprocessing

    pre = sidecar_preprocessing(path)
    if pre is None:
        raise ValueError(f"--model={path}: the model carries no preprocessing; pass --preprocessing")
    return pre


def check_embedding_output(model, preprocessing: Preprocessing, path: str) -> int:
    """Embedding size D after checking the model maps [2, h, w, 3] to a finite [2, D]."""
    x = np.zeros((2, *preprocessing.size, 3), np.float32)
    try:
        out = model(x, training=False)
    except TypeError:
        out = model(x)
    if isinstance(out, dict) or isinstance(out, (list, tuple)):
        raise ValueError(f"--model={path}: the model returns {type(out).__name__}; an embedder returns one [N, D] tensor")
    shape = tuple(out.shape)
    if len(shape) != 2 or shape[0] != 2:
        raise ValueError(f"--model={path}: output shape {list(shape)} for a batch of 2; expected [N, D]")
    if not np.all(np.isfinite(np.asarray(out))):
        raise ValueError(f"--model={path}: the model outputs non-finite values")
    return int(shape[1])
