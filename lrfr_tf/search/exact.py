"""Exact 1:N search in NumPy: chunked matrix products and a running top-k."""

from __future__ import annotations

import numpy as np

from ._checks import check_dtype, check_embeddings, check_ids
from .base import Index, SearchResult, default_chunk_rows, pad_result, topk_scan
from .storage import EmbeddingStore


class ExactIndex(Index):
    """Brute-force inner-product search over an in-memory gallery stored as float32, float16 or int8.

    The gallery is scanned ``chunk_rows`` rows at a time (default: 8 MB of float32 rows, 4,096
    rows at dim 512) and queries ``query_block`` at a time, so the score buffer never exceeds
    query_block x chunk_rows floats whatever the gallery size. float16 / int8 rows are decoded to float32 one chunk
    at a time (NumPy has no half/int8 BLAS): half / quarter the memory of float32, but
    slower single queries (see benchmarks/gallery_search.py).
    """

    kind = "exact"

    def __init__(self, dim: int, storage: str = "float32", chunk_rows: int | None = None, query_block: int = 1024,
                 normalize: bool = True):
        super().__init__(dim, check_dtype(storage), normalize)
        chunk_rows = default_chunk_rows(self.dim) if chunk_rows is None else chunk_rows
        for name, v in (("chunk_rows", chunk_rows), ("query_block", query_block)):
            if not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{name}={v!r}: expected a positive integer")
        self.chunk_rows = int(chunk_rows)
        self.query_block = int(query_block)
        self.store = EmbeddingStore(self.dim, self.storage)

    @property
    def ntotal(self) -> int:
        return self.store.count

    @property
    def nbytes(self) -> int:
        return self.store.nbytes

    @property
    def ids(self) -> np.ndarray:
        return self.store.ids

    def add(self, embeddings, ids=None) -> None:
        x = check_embeddings(embeddings, self.dim, "embeddings", self.normalize)
        self.store.add(x, check_ids(ids, x.shape[0], self.ntotal))

    def _search(self, queries: np.ndarray, k: int) -> SearchResult:
        codes, scales = self.store.codes, self.store.scales

        def read(a, b):
            return codes[a:b], None if scales is None else scales[a:b]

        s, pos = topk_scan(queries, self.ntotal, read, k, self.chunk_rows, self.query_block)
        return pad_result(s, self.store.ids[pos], k)
