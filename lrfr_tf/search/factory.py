"""``create_index(kind, ...)``: one registry of index kinds, and the measured "auto" default."""

from __future__ import annotations

from typing import Callable

from .base import Index

# Chosen from benchmarks/gallery_search.py (results/benchmarks/gallery_search.json); see create_index.
AUTO_EXACT_MAX = 200_000


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
    """The kind "auto" picks for an expected gallery of ``n`` rows (see :func:`create_index`)."""
    return "exact" if n <= AUTO_EXACT_MAX else "ivf"


def create_index(kind: str = "auto", n: int | None = None, dim: int | None = None, storage: str = "float32",
                 **params) -> Index:
    """Build an empty index of ``kind`` (one of KINDS, or "auto") for ``dim``-d embeddings.

    "auto" needs the expected gallery size ``n``. PLACEHOLDER: filled from the benchmark.
    """
    if kind == "auto":
        if n is None or isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f'kind="auto": expected the gallery size n as a positive integer, got n={n!r}')
        kind = auto_kind(n, dim)
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: expected one of auto, {', '.join(KINDS)}")
    if dim is None and kind != "memmap":
        raise ValueError(f"kind={kind!r}: expected dim (the embedding size), got None")
    return KINDS[kind](dim, storage, **params)
