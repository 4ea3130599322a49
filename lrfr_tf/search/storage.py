"""Gallery embeddings stored as float32, float16 or int8.

int8 uses a symmetric *per-vector* scale: row i is stored as
``q_i = round(x_i / s_i)`` with ``s_i = max_j |x_ij| / 127`` (float32, one per row), and
its score against a float32 query ``y`` is ``s_i * (q_i . y)``. Per-vector rather than one
global scale because the largest component of a unit vector varies a lot from row to row
(about 3-5x for face embeddings); a global scale would be set by the worst row and waste
most of the 8 bits on all the others. The cost is 4 bytes per row (3% at dim 128, <1% at 512).
The query stays float32, so only the gallery is quantised. float16 is a plain cast.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_dtype

INT8_MAX = 127.0


def quantize_int8(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 [n, d] -> (int8 codes [n, d], float32 per-row scales [n]); x_i ~= codes_i * scales_i."""
    amax = np.abs(x).max(axis=1)
    scales = np.where(amax > 0, amax / INT8_MAX, 1.0).astype(np.float32)
    codes = np.clip(np.rint(x / scales[:, None]), -INT8_MAX, INT8_MAX).astype(np.int8)
    return codes, scales


def encode(x: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray | None]:
    """float32 rows -> (stored array, scales or None) for ``dtype``."""
    dtype = check_dtype(dtype)
    if dtype == "int8":
        return quantize_int8(x)
    return x.astype(dtype, copy=False), None


def decode(codes: np.ndarray, scales: np.ndarray | None, out: np.ndarray | None = None) -> np.ndarray:
    """Stored rows -> float32 rows (into ``out`` when given, so chunked scans reuse one buffer)."""
    if out is None:
        out = np.empty(codes.shape, np.float32)
    else:
        out = out[: codes.shape[0]]
    np.copyto(out, codes, casting="unsafe")
    if scales is not None:
        out *= scales[:, None]
    return out


class EmbeddingStore:
    """Append-only rows of one storage dtype with int64 ids; grows by doubling."""

    def __init__(self, dim: int, dtype: str = "float32"):
        self.dim = int(dim)
        self.dtype = check_dtype(dtype)
        self._codes = np.empty((0, self.dim), self.dtype)
        self._scales = np.empty((0,), np.float32) if self.dtype == "int8" else None
        self._ids = np.empty((0,), np.int64)
        self.count = 0

    def _reserve(self, n: int) -> None:
        if n <= self._codes.shape[0]:
            return
        cap = max(n, 2 * self._codes.shape[0], 1024)
        codes = np.empty((cap, self.dim), self.dtype)
        codes[: self.count] = self._codes[: self.count]
        self._codes = codes
        ids = np.empty((cap,), np.int64)
        ids[: self.count] = self._ids[: self.count]
        self._ids = ids
        if self._scales is not None:
            scales = np.empty((cap,), np.float32)
            scales[: self.count] = self._scales[: self.count]
            self._scales = scales

    def add(self, x: np.ndarray, ids: np.ndarray) -> None:
        """Append checked float32 rows ``x`` (already normalised) with their ids."""
        codes, scales = encode(x, self.dtype)
        n = x.shape[0]
        self._reserve(self.count + n)
        self._codes[self.count : self.count + n] = codes
        self._ids[self.count : self.count + n] = ids
        if scales is not None:
            self._scales[self.count : self.count + n] = scales
        self.count += n

    @property
    def codes(self) -> np.ndarray:
        return self._codes[: self.count]

    @property
    def scales(self) -> np.ndarray | None:
        return None if self._scales is None else self._scales[: self.count]

    @property
    def ids(self) -> np.ndarray:
        return self._ids[: self.count]

    @property
    def nbytes(self) -> int:
        """Bytes of the stored rows, scales and ids (not the spare capacity)."""
        n = self.codes.nbytes + self.ids.nbytes
        return n + (self.scales.nbytes if self._scales is not None else 0)
