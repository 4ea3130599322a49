"""``create_index(kind, ...)``: one registry of index kinds, and the measured "auto" default."""

from __future__ import annotations

from typing import Callable

from .base import Index

# Chosen from benchmarks/gallery_search.py (results/benchmarks/gallery_search.json); see create_index.
AUTO_EXACT_MAX_FLOATS = 1 << 24  # n * dim up to which "auto" stays exact (128-d: 131k rows, 512-d: 32k rows)


def _exact(dim, storage="float32", **kw):
    from .exact import ExactIndex
    return ExactIndex(dim, storage, **kw)


def _faiss(kind):
    def make(dim, storage="float32", **kw):
        from .ann import FaissIndex
        return FaissIndex(kind, dim, storage, **kw)
    return make


def _memmap(dim=None, storage=None, *, path, **kw):
    from .gallery_file import MemmapIndex
    index = MemmapIndex(path, **kw)
    if dim is not None and index.dim != dim:
        raise ValueError(f"{path}: gallery file has dim {index.dim}, expected dim={dim}")
    return index


KINDS: dict[str, Callable[..., Index]] = {
    "exact": _exact,          # NumPy brute force, float32 / float16 / int8 storage
    "flat": _faiss("flat"),   # faiss brute force
    "hnsw": _faiss("hnsw"),   # faiss HNSW graph
    "ivf": _faiss("ivf"),     # faiss inverted lists
    "memmap": _memmap,        # exact search streamed from a gallery file (path=...)
}


def auto_kind(n: int, dim: int) -> str:
    """The kind "auto" picks for ``n`` gallery rows of ``dim`` floats: "exact" while n * dim <= 2**24, else "ivf"."""
    return "exact" if n * dim <= AUTO_EXACT_MAX_FLOATS else "ivf"


def create_index(kind: str = "auto", n: int | None = None, dim: int | None = None, storage: str = "float32",
                 **params) -> Index:
    """Build an empty index of ``kind`` (one of KINDS, or "auto") for ``dim``-d embeddings.

    ``params`` go to the index class (e.g. ``nprobe=``, ``ef_search=``, ``chunk_rows=``; ``path=`` for
    "memmap"). "auto" needs the expected gallery size ``n`` and picks, by measurement
    (benchmarks/gallery_search.py, one thread, synthetic faces with genuine cosine ~0.55):

      * "exact" while n * dim <= 2**24 (16.8M floats, 64 MB of float32: 128-d up to 131k rows,
        512-d up to 32k): a query costs at most a few ms there (0.14 / 0.9 ms at 10k x 128 / 512,
        2.5 ms at 100k x 128) and recall is 1 by definition, while IVF would lose 1-4% of top-1
        matches (recall@1 0.96-0.99) to save about 2 ms;
      * "ivf" above: 5.2x faster than exact at 100k x 512 (2.5 vs 13.2 ms, recall@1 0.990), 6.6x at
        1M x 128 (7.0 vs 46 ms, 0.980), 5.5x at 1M x 512 (24 vs 132 ms, 0.996); it trains in
        0.6-28 s. HNSW answered faster at 100k (0.45-0.77 ms) but took 26-49 s to build 100k rows
        (too slow to measure at 1M on 2 cores), needs 13-52% more memory for its links and had
        lower recall at 512-d (0.966); ask for it with kind="hnsw".

    With ``storage="int8"`` the gallery takes 0.26-0.28x the float32 bytes (IVF int8 at 1M x 512:
    12 ms, recall@1 0.990, 506 MB instead of 1.9 GB).
    """
    if kind == "auto":
        if n is None or isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f'kind="auto": expected the gallery size n as a positive integer, got n={n!r}')
        if dim is None:
            raise ValueError('kind="auto": expected dim (the embedding size), got None')
        kind = auto_kind(n, dim)
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: expected one of auto, {', '.join(KINDS)}")
    if dim is None and kind != "memmap":
        raise ValueError(f"kind={kind!r}: expected dim (the embedding size), got None")
    return KINDS[kind](dim, storage, **params)
