"""Approximate 1:N search with faiss-cpu (inner-product metric), behind the common Index interface.

faiss is imported only when one of these indexes is built. Kinds:
  * ``flat``: faiss brute force (IndexFlatIP, or IndexScalarQuantizer for float16 / int8);
  * ``hnsw``: graph index (IndexHNSWFlat / IndexHNSWSQ), ``M`` links per node,
    ``ef_construction`` at build, ``ef_search`` at query time (higher: better recall, slower);
  * ``ivf``: inverted lists (IndexIVFFlat / IndexIVFScalarQuantizer) over ``nlist`` k-means
    cells (default ~sqrt(n) of the first add()), ``nprobe`` cells visited per query (default nlist / 4).
Defaults (ef_search 128, nprobe nlist / 4) were tuned on the benchmark's synthetic 100k x 128
gallery (genuine cosine ~0.55, as for low-resolution probes) for recall@1 >= 0.95 against exact
search with some margin: ef 64 gave 0.936, ef 128 0.983; nprobe nlist / 10 gave 0.86, nlist / 5
0.955. Better separated data needs less.
faiss's int8 ("SQ8") is a per-dimension min/max code trained on the data, not the per-vector
scale of :mod:`lrfr_tf.search.storage`; float16 is "SQfp16".
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_dtype, check_embeddings, check_ids
from .base import Index, SearchResult

INSTALL_HINT = "faiss is not installed: ANN indexes need it, run `pip install lrfr_tf[search]` (faiss-cpu)"

_CODE = {"float32": "Flat", "float16": "SQfp16", "int8": "SQ8"}


def import_faiss():
    """The faiss module, or ImportError naming the extra to install."""
    try:
        import faiss
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return faiss


class FaissIndex(Index):
    """A faiss ``flat`` / ``hnsw`` / ``ivf`` inner-product index; gallery ids are kept here (int64)."""

    def __init__(self, kind: str, dim: int, storage: str = "float32", *, M: int = 32, ef_construction: int = 40,
                 ef_search: int = 128, nlist: int | None = None, nprobe: int | None = None,
                 train_size: int | None = None, seed: int = 0, normalize: bool = True):
        if kind not in ("flat", "hnsw", "ivf"):
            raise ValueError(f"kind={kind!r}: expected one of flat, hnsw, ivf")
        super().__init__(dim, check_dtype(storage), normalize)
        self.kind = kind
        self.M, self.ef_construction, self.ef_search = int(M), int(ef_construction), int(ef_search)
        if nlist is not None and nlist <= 0:
            raise ValueError(f"nlist={nlist!r}: expected a positive integer")
        if nprobe is not None and nprobe <= 0:
            raise ValueError(f"nprobe={nprobe!r}: expected a positive integer")
        self.nlist, self._nprobe, self.train_size, self.seed = nlist, nprobe, train_size, seed
        self._faiss = import_faiss()
        self._ids = np.empty((0,), np.int64)
        self.index = None if kind == "ivf" else self._make()

    def _make(self):
        faiss = self._faiss
        code = _CODE[self.storage]
        if self.kind == "flat":
            spec = code
        elif self.kind == "hnsw":
            spec = f"HNSW{self.M},{code}"
        else:
            spec = f"IVF{self.nlist},{code}"
        index = faiss.index_factory(self.dim, spec, faiss.METRIC_INNER_PRODUCT)
        if self.kind == "hnsw":
            index.hnsw.efConstruction = self.ef_construction
            index.hnsw.efSearch = self.ef_search
        return index

    @property
    def nprobe(self) -> int | None:
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._nprobe = int(value)
        if self.index is not None and self.kind == "ivf":
            self._faiss.extract_index_ivf(self.index).nprobe = self._nprobe

    def set_ef_search(self, value: int) -> None:
        self.ef_search = int(value)
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = self.ef_search

    @property
    def ntotal(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    @property
    def ids(self) -> np.ndarray:
        return self._ids

    def _train(self, x: np.ndarray) -> None:
        n = x.shape[0]
        if self.kind == "ivf":
            if self.nlist is None:
                self.nlist = max(1, min(int(round(math.sqrt(n))), n // 39 or 1))
            if n < self.nlist:
                raise ValueError(f"ivf index: the first add() trains {self.nlist} cells and needs at least "
                                 f"nlist={self.nlist} embeddings, got {n}")
            if self._nprobe is None:
                self._nprobe = max(1, self.nlist // 4)
            self.index = self._make()
            self._faiss.extract_index_ivf(self.index).nprobe = self._nprobe
        if not self.index.is_trained:
            size = self.train_size or (max(64 * self.nlist, 10_000) if self.kind == "ivf" else 100_000)
            sample = x
            if n > size:
                rng = np.random.default_rng(self.seed)
                sample = x[np.sort(rng.choice(n, size, replace=False))]
            self.index.train(sample)

    def add(self, embeddings, ids=None) -> None:
        x = check_embeddings(embeddings, self.dim, "embeddings", self.normalize)
        ids = check_ids(ids, x.shape[0], self.ntotal)
        if self.index is None or not self.index.is_trained:
            self._train(x)
        self.index.add(x)
        self._ids = np.concatenate([self._ids, ids])

    def _search(self, queries: np.ndarray, k: int) -> SearchResult:
        scores, pos = self.index.search(queries, k)
        found = pos >= 0
        ids = np.where(found, self._ids[np.where(found, pos, 0)], -1)
        scores = np.where(found, scores, -np.inf).astype(np.float32)
        return SearchResult(scores, ids.astype(np.int64))

    @property
    def nbytes(self) -> int:
        """Codes + ids + index structure (HNSW links, IVF centroids and list ids), computed, not serialised."""
        index, n = self.index, self.ntotal
        if index is None:
            return 0
        total = self._ids.nbytes
        if self.kind == "flat":
            return total + n * index.sa_code_size()
        if self.kind == "hnsw":
            h = index.hnsw
            links = h.neighbors.size() * 4 + h.offsets.size() * 8 + h.levels.size() * 4
            return total + n * index.storage.sa_code_size() + links
        ivf = self._faiss.extract_index_ivf(index)
        return total + n * (ivf.code_size + 8) + ivf.nlist * self.dim * 4
