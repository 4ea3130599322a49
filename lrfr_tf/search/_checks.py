"""Input validation shared by every index: one clear ValueError line per problem."""

from __future__ import annotations

import numpy as np

DTYPES = ("float32", "float16", "int8")


def check_dtype(dtype: str, what: str = "storage") -> str:
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise ValueError(f"{what}={dtype!r}: expected one of {', '.join(DTYPES)}")
    return name


def check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise ValueError(f"k={k!r}: expected a positive integer")
    return int(k)


def check_embeddings(x, dim: int | None, name: str, normalize: bool = True) -> np.ndarray:
    """[n, dim] finite float32 rows, L2-normalised when ``normalize``; a 1-D vector becomes one row."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a [n, dim] array, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one embedding, got an empty array of shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name}: expected dim {dim}, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"{name}: expected real numbers, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(f"{name}: {bad.size} row(s) contain NaN or inf (first: row {bad[0]})")
    if normalize:
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        zero = np.flatnonzero(norms[:, 0] == 0)
        if zero.size:
            raise ValueError(f"{name}: {zero.size} row(s) have zero norm and cannot be L2-normalised (first: row {zero[0]})")
        x = x / norms
    return x


def check_ids(ids, n: int, start: int, name: str = "ids") -> np.ndarray:
    """int64 ids for n rows; default: start, start + 1, ..."""
    if ids is None:
        return np.arange(start, start + n, dtype=np.int64)
    ids = np.asarray(ids)
    if ids.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},) to match the embeddings, got {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{name}: expected integer ids (map names to ints yourself), got dtype {ids.dtype}")
    return ids.astype(np.int64)
