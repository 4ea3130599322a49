"""Face embedders behind one interface: Keras model, SavedModel directory, .tflite file.

``Embedder.embed(images)`` takes RGB images in [0, 255] (uint8 or float, any
size; resized to the model size with the preprocessing's ``resize_method``),
applies the embedder's ``Preprocessing`` and returns L2-normalised float32
embeddings [N, D]. Batches are padded to the model batch size, so fixed-batch
TFLite models (the reference MobileFaceNet takes exactly [2, 112, 112, 3]) and
traced Keras functions see one input shape.

Flip augmentation (as in the insightface/ArcFace evaluation code): the raw
outputs for the image and its horizontal mirror are summed (``flip="sum"``,
D stays) or concatenated (``flip="concat"``, 2D), then L2-normalised.

Preprocessing comes, in this order, from the ``preprocessing`` argument, the
Keras model's ``.preprocessing`` attribute, a ``preprocessing.json`` sidecar
(inside a SavedModel directory, or ``<model stem>.preprocessing.json`` beside a
file) holding ``Preprocessing.get_config()``, else the ArcFace default
(RGB, (x - 127.5) / 128) with a logged warning; ``preprocessing_source`` says
which one was used.

``fingerprint`` = sha256 of (model bytes or weights, preprocessing, flip): the
identity of the embedding function, used by reports and the embedding cache.

Probe and gallery paths: a Keras model with ``gallery_model()`` (the super-resolved recognizers of
sl_margin, ip_unet and rim: ``SuperResolvedEmbedder``) embeds a degraded face through its SR net and a face
at full resolution directly with its recognizer, as the papers evaluate them. ``embed_gallery`` is that
direct path (``embed`` for every other model); the harness uses it for every face it does not degrade
(the 112 px side of CR pairs, both sides of 112 px pairs, the identification gallery).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from typing import Any, Dict, Optional

import numpy as np

from lrfr_tf.preprocessing import ARCFACE, Preprocessing, as_preprocessing

log = logging.getLogger(__name__)

FLIP_MODES = (None, "sum", "concat")


class NonFiniteEmbeddingError(ValueError):
    """The model produced NaN/inf embeddings; ``indices`` are the offending input rows."""

    def __init__(self, message: str, indices: np.ndarray):
        super().__init__(message)
        self.indices = indices


def sha256_file(path: str, h=None) -> str:
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_tree(root: str) -> str:
    """sha256 over every file of a directory (relative paths and contents, sorted)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            h.update(os.path.relpath(path, root).encode() + b"\0")
            sha256_file(path, h)
    return h.hexdigest()


def sidecar_preprocessing(model_path: str) -> Optional[Preprocessing]:
    if os.path.isdir(model_path):
        candidates = [os.path.join(model_path, "preprocessing.json"), os.path.join(model_path, "assets", "preprocessing.json")]
    else:
        candidates = [os.path.splitext(model_path)[0] + ".preprocessing.json"]
    for c in candidates:
        if os.path.isfile(c):
            return as_preprocessing(c)
    return None


def _resolve_preprocessing(*candidates: tuple) -> tuple:
    """First non-None (preprocessing, source) pair, else the ArcFace default."""
    for pre, source in candidates:
        if pre is not None:
            return pre, source
    return ARCFACE, "default"


def prepare_images(images, preprocessing: Preprocessing, name: str = "images") -> np.ndarray:
    """RGB [N, H, W, 3] in [0, 255] -> normalised float32 model input: centre crop, resize to the model size
    (``resize_method``, antialiased) when it differs, clip to [0, 255], normalise. Every caller that feeds a
    model (harness, export calibration and parity) prepares faces with this one function."""
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"{name}: expected RGB images [N, H, W, 3], got shape {list(x.shape)}")
    x = x.astype(np.float32)
    if tuple(preprocessing.apply_crop(x[:1]).shape[1:3]) != preprocessing.size:
        return np.asarray(preprocessing.prepare(x))  # crop, resize, clip, normalise (TF ops)
    return preprocessing.normalize_numpy(preprocessing.apply_crop(x))


class Embedder:
    """Base class: subclasses implement ``_infer`` (and ``model_hash``, ``raw_dim``)."""

    kind = "embedder"

    def __init__(self, name: str, preprocessing: Preprocessing, preprocessing_source: str, flip: Optional[str], batch_size: int):
        if flip == "none":
            flip = None
        if flip not in FLIP_MODES:
            raise ValueError(f"flip must be one of none, sum, concat; got {flip!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.name = name
        self.preprocessing = preprocessing
        self.preprocessing_source = preprocessing_source
        if preprocessing_source == "default":
            log.warning("%s: no preprocessing given or attached; assuming the ArcFace default %s", name, preprocessing.to_json())
        self.flip = flip
        self.batch_size = int(batch_size)
        self._fingerprint = None
        self._dim = None
        self.gallery: Optional["Embedder"] = None  # the direct path for undegraded faces (see the module doc)

    # -- to implement -------------------------------------------------------
    @property
    def model_hash(self) -> str:
        raise NotImplementedError

    def _infer(self, x: np.ndarray) -> np.ndarray:
        """Normalised input float32 [batch_size, H, W, 3] -> raw outputs."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(self.model_hash.encode())
            h.update(self.preprocessing.to_json().encode())
            h.update(str(self.flip).encode())
            if self.gallery is not None:  # undegraded faces take another path: other cached embeddings
                h.update(b"gallery:" + self.gallery.fingerprint.encode())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    @property
    def embedding_dim(self) -> int:
        if self._dim is None:
            dim = self._forward(np.zeros((1, *self.preprocessing.size, 3), np.float32)).shape[1]
            self._dim = dim * (2 if self.flip == "concat" else 1)
        return self._dim

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return self._in_batches(x, self._infer)

    def _in_batches(self, x: np.ndarray, infer) -> np.ndarray:
        """``infer`` on batches of ``batch_size``, the last one padded with zeros; checks the output is 2-D."""
        n = x.shape[0]
        outs = []
        for start in range(0, n, self.batch_size):
            chunk = x[start : start + self.batch_size]
            pad = self.batch_size - chunk.shape[0]
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
            out = np.asarray(infer(chunk))
            if out.ndim != 2 or out.shape[0] != self.batch_size:
                raise ValueError(
                    f"{self.name}: model output has shape {list(out.shape)} for a batch of {self.batch_size}; "
                    "an embedder needs a 2-D [batch, embedding_dim] output"
                )
            outs.append(out[: chunk.shape[0] - pad])
        return np.concatenate(outs).astype(np.float32)

    def _prepare(self, images) -> np.ndarray:
        return prepare_images(images, self.preprocessing, self.name)

    def embed(self, images) -> np.ndarray:
        """RGB images in [0, 255] [N, H, W, 3] -> L2-normalised float32 [N, D]."""
        x = self._prepare(images)
        if x.shape[0] == 0:
            return np.zeros((0, self.embedding_dim), np.float32)
        raw = self._forward(x)
        if self.flip is not None:
            from lrfr_tf.data.degrade import flip_horizontal

            mirrored = self._forward(np.ascontiguousarray(flip_horizontal(x)))
            raw = raw + mirrored if self.flip == "sum" else np.concatenate([raw, mirrored], axis=1)
        bad = np.flatnonzero(~np.all(np.isfinite(raw), axis=1))
        if bad.size:
            raise NonFiniteEmbeddingError(
                f"{self.name}: the model produced non-finite (NaN/inf) embeddings for {bad.size} of {raw.shape[0]} inputs "
                f"(first input rows: {bad[:5].tolist()})",
                bad,
            )
        norm = np.linalg.norm(raw, axis=1, keepdims=True)
        return (raw / np.maximum(norm, 1e-12)).astype(np.float32)

    def embed_gallery(self, images) -> np.ndarray:
        """``embed`` through the gallery path (faces at full resolution; see the module doc)."""
        return (self.gallery or self).embed(images)

    def describe(self) -> Dict[str, Any]:
        """Settings for reports."""
        return {
            "gallery_path": "direct recognizer (gallery_model)" if self.gallery is not None else "same as probe",
            "name": self.name,
            "kind": self.kind,
            "model_sha256": self.model_hash,
            "fingerprint": self.fingerprint,
            "preprocessing": self.preprocessing.get_config(),
            "preprocessing_source": self.preprocessing_source,
            "flip": self.flip or "none",
            "batch_size": self.batch_size,
            "embedding_dim": self.embedding_dim,
        }


class KerasEmbedder(Embedder):
    """A Keras model mapping normalised images [B, H, W, 3] to embeddings [B, D]."""

    kind = "keras"

    def __init__(
        self,
        model,
        preprocessing=None,
        flip=None,
        batch_size: int = 64,
        name: str | None = None,
        model_hash: str | None = None,
        sidecar: Preprocessing | None = None,
        gallery_path: bool = True,
    ):
        """``gallery_path``: False embeds every face through ``model`` itself, even when it has a
        ``gallery_model()`` (e.g. to compare it with an export of ``model``'s one path)."""
        import tensorflow as tf

        pre, source = _resolve_preprocessing(
            (as_preprocessing(preprocessing), "argument"),
            (getattr(model, "preprocessing", None), "model"),
            (sidecar, "sidecar"),
        )
        super().__init__(name or model.name, pre, source, flip, batch_size)
        self.model = model
        self._file_hash = model_hash
        self._call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        gallery_model = getattr(model, "gallery_model", None) if gallery_path else None
        if callable(gallery_model):
            self.gallery = KerasEmbedder(gallery_model(), self.preprocessing, flip, batch_size, f"{self.name}/gallery")

    @property
    def model_hash(self) -> str:
        """sha256 of the .keras file it was loaded from, else of the class and every weight's shape and
        values in order (computed now; auto-generated layer names are left out)."""
        if self._file_hash is not None:
            return self._file_hash
        h = hashlib.sha256(type(self.model).__qualname__.encode())
        for w in self.model.weights:
            h.update(str(tuple(w.shape)).encode())
            h.update(np.ascontiguousarray(np.asarray(w.numpy())).tobytes())
        return h.hexdigest()

    @property
    def fingerprint(self) -> str:
        # Weights change during training: never memoise the hash of an in-memory model.
        self._fingerprint = None
        return super().fingerprint

    def _infer(self, x):
        out = self._call(x)
        if not hasattr(out, "shape"):
            raise ValueError(f"{self.name}: model returned {type(out).__name__}; an embedder needs a single [batch, D] tensor")
        return np.asarray(out)


class SavedModelEmbedder(Embedder):
    """A SavedModel directory called through one signature (single input, single output): by default
    ``embed_normalized`` when it has one (an ``lrfr_tf.export`` model: normalised input at the model size,
    the harness's own preparation), else ``serving_default``."""

    kind = "saved_model"

    def __init__(self, path: str, preprocessing=None, flip=None, batch_size: int = 64, name: str | None = None, signature: str | None = None):
        import tensorflow as tf

        loaded = tf.saved_model.load(path)
        if signature is None:
            signature = "embed_normalized" if "embed_normalized" in loaded.signatures else "serving_default"
        if signature not in loaded.signatures:
            raise ValueError(f"{path}: SavedModel has no signature {signature!r}; it has {sorted(loaded.signatures)}")
        fn = loaded.signatures[signature]
        inputs = fn.structured_input_signature[1]
        if len(inputs) != 1:
            raise ValueError(f"{path}: signature {signature!r} has inputs {sorted(inputs)}; an embedder needs exactly one image input")
        (self._input_name, spec), = inputs.items()
        outputs = fn.structured_outputs
        if len(outputs) != 1:
            raise ValueError(f"{path}: signature {signature!r} has outputs {sorted(outputs)}; an embedder needs exactly one")
        self._output_name = next(iter(outputs))
        if spec.shape.rank != 4:
            raise ValueError(f"{path}: input {self._input_name!r} has shape {spec.shape}; expected [batch, H, W, 3]")
        fixed_batch = spec.shape[0]
        pre, source = _resolve_preprocessing((as_preprocessing(preprocessing), "argument"), (sidecar_preprocessing(path), "sidecar"))
        super().__init__(name or os.path.basename(os.path.normpath(path)), pre, source, flip, fixed_batch or batch_size)
        self._loaded, self._fn, self._dtype, self.path = loaded, fn, spec.dtype, path
        self._hash = None

    @property
    def model_hash(self) -> str:
        if self._hash is None:
            self._hash = sha256_tree(self.path)
        return self._hash

    def _infer(self, x):
        import tensorflow as tf

        return self._fn(**{self._input_name: tf.constant(x, dtype=self._dtype)})[self._output_name].numpy()


class TFLiteEmbedder(Embedder):
    """A .tflite model run with ai_edge_litert.

    A dynamic batch dimension (shape_signature -1) is resized to ``batch_size``;
    a fixed batch (e.g. [2, 112, 112, 3]) is used as is and the last batch padded.
    int8/uint8 inputs and outputs are (de)quantised with the tensor's scale and zero point.

    ``num_threads`` (default: every core) one-thread interpreters each run a contiguous share of the batches
    of an ``embed`` call, in parallel (LiteRT releases the GIL; a row's output does not depend on the other
    rows of its batch). A graph with TOCO's decomposed PReLU runs as ``litert.fuse_decomposed_prelu``'s
    copy when that copy gives bit-identical outputs on a probe batch (``graph`` says which one runs).
    """

    kind = "tflite"

    def __init__(self, path: str, preprocessing=None, flip=None, batch_size: int = 32, name: str | None = None, num_threads: int | None = None):
        from lrfr_tf.litert import fuse_decomposed_prelu

        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such TFLite model")
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        with open(path, "rb") as f:
            data = f.read()
        interp = self._open(data, None)
        ins, outs = interp.get_input_details(), interp.get_output_details()
        if len(ins) != 1 or len(outs) != 1:
            raise ValueError(f"{path}: model has {len(ins)} inputs and {len(outs)} outputs; an embedder needs one image input and one output")
        shape, signature = ins[0]["shape"].tolist(), ins[0].get("shape_signature", ins[0]["shape"]).tolist()
        if len(shape) != 4 or shape[-1] != 3:
            raise ValueError(f"{path}: input shape {shape}; expected [batch, H, W, 3]")
        if len(outs[0]["shape"]) != 2:
            raise ValueError(f"{path}: output shape {outs[0]['shape'].tolist()} is not 2-D; an embedder needs [batch, embedding_dim]")
        batch = batch_size if signature[0] == -1 else int(shape[0])
        interp = self._open(data, batch if signature[0] == -1 else None)
        model_size = (int(shape[1]), int(shape[2]))
        pre, source = _resolve_preprocessing((as_preprocessing(preprocessing), "argument"), (sidecar_preprocessing(path), "sidecar"))
        if source == "default":
            pre = Preprocessing.from_config({**pre.get_config(), "size": model_size})
        if pre.size != model_size:
            raise ValueError(f"{path}: model input is {model_size[0]}x{model_size[1]} but the preprocessing says {pre.size}")
        super().__init__(name or os.path.splitext(os.path.basename(path))[0], pre, source, flip, batch)
        self.path = path
        self._in, self._out = interp.get_input_details()[0], interp.get_output_details()[0]
        resize = batch if signature[0] == -1 else None
        fused = fuse_decomposed_prelu(data, path)
        if fused is not None and not self._same_outputs(interp, self._open(fused, resize)):
            log.warning("%s: the fused-PReLU copy of the graph differs from the file's; running the file's graph", path)
            fused = None
        self.graph = "file" if fused is None else "fused_prelu"
        self._interpreters = [self._open(fused or data, resize) for _ in range(num_threads or os.cpu_count() or 1)]
        self._pool = None
        self._hash = None

    @staticmethod
    def _open(data: bytes, batch: int | None):
        """A one-thread interpreter of ``data`` (batch resized to ``batch`` if given), tensors allocated."""
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_content=data, num_threads=1)
        if batch is not None:
            detail = interp.get_input_details()[0]
            interp.resize_tensor_input(detail["index"], [batch, *detail["shape"].tolist()[1:]])
        interp.allocate_tensors()
        return interp

    def _same_outputs(self, reference, candidate) -> bool:
        """Bit-identical outputs of two interpreters on a seeded probe batch in [-1, 1]."""
        probe = np.random.default_rng(0).uniform(-1.0, 1.0, (self.batch_size, *self.preprocessing.size, 3)).astype(np.float32)
        return np.array_equal(self._invoke(reference, probe), self._invoke(candidate, probe))

    @property
    def model_hash(self) -> str:
        if self._hash is None:
            self._hash = sha256_file(self.path)
        return self._hash

    def _invoke(self, interp, x):
        from lrfr_tf.litert import dequantize, quantize

        interp.set_tensor(self._in["index"], quantize(x, self._in))
        interp.invoke()
        return dequantize(interp.get_tensor(self._out["index"]), self._out)

    def _infer(self, x):
        return self._invoke(self._interpreters[0], x)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        """Each interpreter runs a contiguous share of whole batches, in parallel threads."""
        num_batches = -(-x.shape[0] // self.batch_size)
        shares = [s for s in np.array_split(np.arange(num_batches), min(len(self._interpreters), num_batches)) if s.size]
        if len(shares) <= 1:
            return super()._forward(x)
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(len(self._interpreters), thread_name_prefix=f"{self.name}-litert")
        jobs = [self._pool.submit(self._in_batches, x[s[0] * self.batch_size : (s[-1] + 1) * self.batch_size],
                                  functools.partial(self._invoke, interp))
                for s, interp in zip(shares, self._interpreters)]
        return np.concatenate([job.result() for job in jobs])

    def describe(self) -> Dict[str, Any]:
        return {**super().describe(), "graph": self.graph, "interpreters": len(self._interpreters)}


def load_embedder(
    obj_or_path,
    preprocessing=None,
    flip: Optional[str] = None,
    batch_size: Optional[int] = None,
    name: Optional[str] = None,
    num_threads: Optional[int] = None,
) -> Embedder:
    """An Embedder from a keras.Model, a .keras file, a SavedModel directory or a .tflite file.

    ``batch_size`` (default 64; 32 for a dynamic-batch TFLite model) is ignored
    by models with a fixed batch dimension.
    """
    if isinstance(obj_or_path, Embedder):
        if preprocessing is not None or flip is not None:
            raise ValueError("pass preprocessing/flip when creating the Embedder, not to load_embedder on an existing one")
        return obj_or_path
    import keras

    from lrfr_tf.zoo import resolve_model

    obj_or_path = resolve_model(obj_or_path)  # zoo:NAME -> the shipped file
    if isinstance(obj_or_path, keras.Model):
        return KerasEmbedder(obj_or_path, preprocessing, flip, batch_size or 64, name)
    path = os.fspath(obj_or_path)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ValueError(f"{path}: a directory but not a SavedModel (no saved_model.pb)")
        return SavedModelEmbedder(path, preprocessing, flip, batch_size or 64, name)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such model file or directory")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".tflite":
        return TFLiteEmbedder(path, preprocessing, flip, batch_size or 32, name, num_threads)
    if ext == ".keras":
        import lrfr_tf.models  # noqa: F401  (registers the project's serializable classes)

        model = keras.saving.load_model(path, compile=False)
        stem = os.path.splitext(os.path.basename(path))[0]
        return KerasEmbedder(model, preprocessing, flip, batch_size or 64, name or stem, sha256_file(path), sidecar_preprocessing(path))
    raise ValueError(f"{path}: unknown model format {ext!r}; use a .tflite or .keras file or a SavedModel directory")
