"""The enrolled gallery on disk: a versioned ``.npz`` tied to the model that made its embeddings.

Arrays (read with ``allow_pickle=False``: a gallery file can run no code):

  format_version  int64 scalar, ``FORMAT_VERSION``
  model_sha256    str scalar, sha256 of the .tflite file whose embeddings these are
  embedding_dim   int64 scalar
  names           str [n], the identity of each row (an identity may have several rows)
  embeddings      float32 [n, embedding_dim], L2-normalised
  sources         str [n], the image each row came from (as given on the command line)

A gallery is only meaningful for the model that made it: ``load_gallery`` refuses one whose ``model_sha256``
differs from the model in use. Matching (``Gallery.best_match``) is exact cosine search with
``lrfr_tf.search.ExactIndex``; an identity's score is its best row.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from typing import List, Optional, Tuple

import numpy as np

from lrfr_tf.search import ExactIndex

FORMAT_VERSION = 1
KEYS = ("format_version", "model_sha256", "embedding_dim", "names", "embeddings", "sources")


@dataclasses.dataclass
class Gallery:
    model_sha256: str
    dim: int
    embeddings: np.ndarray
    names: List[str]
    sources: List[str]

    def __post_init__(self):
        self.names, self.sources = [str(n) for n in self.names], [str(s) for s in self.sources]
        self.embeddings = np.asarray(self.embeddings, np.float32).reshape(len(self.names), int(self.dim))
        self.identities = sorted(set(self.names))
        self._index = None
        if len(self.names):
            self._index = ExactIndex(self.embeddings.shape[1])
            self._index.add(self.embeddings, ids=np.arange(len(self.names)))

    def __len__(self) -> int:
        return len(self.names)

    def best_match(self, embeddings: np.ndarray) -> List[Tuple[Optional[str], Optional[float]]]:
        """(identity, cosine similarity) of the best gallery row for each of [N, dim] embeddings; (None, None)
        for every face when the gallery is empty."""
        if self._index is None:
            return [(None, None)] * len(embeddings)
        if len(embeddings) == 0:
            return []
        scores, rows = self._index.search(embeddings, k=1)
        return [(self.names[int(r)], float(s)) for s, r in zip(scores[:, 0], rows[:, 0])]

    def save(self, path: str) -> None:
        """Write the gallery to ``path`` (through ``<path>.tmp.npz``, renamed once complete)."""
        tmp = path + ".tmp.npz"
        np.savez(tmp, format_version=np.int64(FORMAT_VERSION), model_sha256=np.str_(self.model_sha256),
                 embedding_dim=np.int64(self.dim), names=np.array(self.names, dtype=np.str_),
                 embeddings=self.embeddings, sources=np.array(self.sources, dtype=np.str_))
        os.replace(tmp, path)


def load_gallery(path: str, model_sha256: Optional[str] = None, embedding_dim: Optional[int] = None,
                 what: str = "--gallery") -> Gallery:
    """Read and check a gallery file; ValueError naming ``what`` and the file when it is not one, is of another
    format version, or was made with another model (``model_sha256``) or embedding size."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}={path}: no such file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{what}={path}: not a readable gallery .npz (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in KEYS if k not in data.files]
            if missing:
                raise ValueError(f"{what}={path}: not an lrfr_tf.edge gallery (missing {', '.join(missing)})")
            fields = {k: data[k] for k in KEYS}
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"{what}={path}: not a readable gallery .npz ({e})") from None
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickled" in str(e):
            raise ValueError(f"{what}={path}: holds pickled objects; a gallery holds plain arrays") from None
        raise
    damaged = f"{what}={path}: damaged gallery"
    scalars = [fields[k] for k in ("format_version", "model_sha256", "embedding_dim")]
    if any(f.ndim != 0 for f in scalars) or fields["format_version"].dtype.kind not in "iu" \
            or fields["embedding_dim"].dtype.kind not in "iu" or fields["model_sha256"].dtype.kind != "U":
        raise ValueError(f"{damaged} (format_version, model_sha256 and embedding_dim must be an integer, a string "
                         "and an integer)")
    version = int(fields["format_version"])
    if version != FORMAT_VERSION:
        raise ValueError(f"{what}={path}: gallery format version {version}; this lrfr_tf reads version {FORMAT_VERSION}")
    sha, dim = str(fields["model_sha256"]), int(fields["embedding_dim"])
    embeddings = fields["embeddings"]
    if embeddings.dtype.kind != "f" or fields["names"].ndim != 1 or fields["sources"].ndim != 1 \
            or fields["names"].dtype.kind != "U" or fields["sources"].dtype.kind != "U":
        raise ValueError(f"{damaged} (embeddings must be floats, names and sources 1-D strings)")
    names, sources = [str(n) for n in fields["names"]], [str(s) for s in fields["sources"]]
    if embeddings.ndim != 2 or embeddings.shape[0] != len(names) or len(sources) != len(names) \
            or (len(names) and embeddings.shape[1] != dim):
        raise ValueError(f"{damaged} ({len(names)} names, {len(sources)} sources, embeddings "
                         f"{list(embeddings.shape)}, embedding_dim {dim})")
    if len(names) and np.any(np.linalg.norm(embeddings.astype(np.float64), axis=1) == 0):
        raise ValueError(f"{damaged} (an embedding row is all zeros)")
    if model_sha256 is not None and sha != model_sha256:
        raise ValueError(f"{what}={path}: enrolled with another model (sha256 {sha[:12]}..., --model is "
                         f"{model_sha256[:12]}...); enroll again with this model")
    if embedding_dim is not None and dim != embedding_dim:
        raise ValueError(f"{what}={path}: {dim}-d embeddings, the model makes {embedding_dim}-d ones")
    if not np.isfinite(embeddings).all():
        raise ValueError(f"{what}={path}: embeddings hold NaN or infinite values (damaged gallery)")
    return Gallery(sha, dim, embeddings.reshape(len(names), dim), names, sources)
