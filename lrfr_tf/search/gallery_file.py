"""A gallery file larger than memory: versioned binary format, chunked writer, memory-mapped exact search.

Layout (little-endian), format version 1::

    offset 0   header, 64 bytes: magic b"LRFRGAL\\0" (8), version u32, dim u32, dtype code u32
               (0 float32, 1 float16, 2 int8), flags u32 (bit 0: rows L2-normalised), count u64,
               32 zero bytes reserved
    offset 64  ids     int64   [count]
               scales  float32 [count]        (int8 only: row i ~= codes[i] * scales[i])
               codes   <dtype> [count, dim]

:func:`open_gallery` checks the header and that the file is exactly as long as the header says
before mapping anything, so a truncated or padded file is refused with a ValueError naming it.
Search streams ``chunk_rows`` rows at a time through the same top-k scan as
:class:`~lrfr_tf.search.exact.ExactIndex` and releases each chunk's pages from the mapping after
use (madvise DONTNEED), so resident memory stays about one chunk whatever the file size (the
kernel may still keep the file in its page cache). The price is that every query maps the pages
in again (page faults, even from a warm cache); when the file fits in RAM and latency matters,
pass ``release_pages=False`` or load it into an :class:`~lrfr_tf.search.exact.ExactIndex`.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

import numpy as np

from ._checks import check_dtype, check_embeddings, check_ids
from .base import Index, SearchResult, default_chunk_rows, pad_result, topk_scan
from .storage import encode

MAGIC = b"LRFRGAL\0"
VERSION = 1
HEADER_SIZE = 64
_HEADER = struct.Struct("<8sIIIIQ")
_CODES = {"float32": 0, "float16": 1, "int8": 2}
_NAMES = {v: k for k, v in _CODES.items()}
MAX_DIM = 1 << 16


def _layout(count: int, dim: int, dtype: str) -> dict:
    ids_off = HEADER_SIZE
    scales_off = ids_off + 8 * count
    codes_off = scales_off + (4 * count if dtype == "int8" else 0)
    size = codes_off + count * dim * np.dtype(dtype).itemsize
    return dict(ids=ids_off, scales=scales_off, codes=codes_off, size=size)


def read_header(path) -> dict:
    """Parse and check a gallery file's header against the file size; returns dim, dtype, count, version, layout."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such gallery file")
    size = path.stat().st_size
    if size < HEADER_SIZE:
        raise ValueError(f"{path}: {size} bytes, shorter than the {HEADER_SIZE}-byte gallery header (truncated or not a gallery file)")
    with open(path, "rb") as f:
        magic, version, dim, code, flags, count = _HEADER.unpack(f.read(_HEADER.size))
    if magic != MAGIC:
        raise ValueError(f"{path}: not an lrfr_tf gallery file (magic {magic!r}, expected {MAGIC!r})")
    if version != VERSION:
        raise ValueError(f"{path}: gallery format version {version}, this lrfr_tf reads version {VERSION}")
    if not 1 <= dim <= MAX_DIM:
        raise ValueError(f"{path}: header dim {dim}, expected 1..{MAX_DIM} (damaged header)")
    if code not in _NAMES:
        raise ValueError(f"{path}: header dtype code {code}, expected one of {sorted(_NAMES)} (damaged header)")
    dtype = _NAMES[code]
    layout = _layout(count, dim, dtype)
    if layout["size"] != size:
        raise ValueError(f"{path}: file is {size} bytes but its header (count={count}, dim={dim}, dtype={dtype}) "
                         f"needs {layout['size']} bytes: truncated or damaged")
    return dict(version=version, dim=dim, dtype=dtype, count=count, normalized=bool(flags & 1), layout=layout)


class GalleryWriter:
    """Write a gallery file of exactly ``count`` rows, a chunk at a time, without holding it in memory.

    Rows go to ``<path>.tmp``, renamed to ``path`` by :meth:`close` only once all ``count`` rows
    are written; on error the partial file is removed::

        with GalleryWriter("gallery.lrfrgal", count=n, dim=512, dtype="int8") as w:
            for chunk, chunk_ids in batches:
                w.add(chunk, chunk_ids)
    """

    def __init__(self, path, count: int, dim: int, dtype: str = "float32", normalize: bool = True):
        if not isinstance(count, (int, np.integer)) or count <= 0:
            raise ValueError(f"count={count!r}: expected a positive number of gallery rows")
        if not isinstance(dim, (int, np.integer)) or not 1 <= dim <= MAX_DIM:
            raise ValueError(f"dim={dim!r}: expected an integer in 1..{MAX_DIM}")
        self.path, self.count, self.dim = Path(path), int(count), int(dim)
        self.dtype, self.normalize = check_dtype(dtype), normalize
        self.written = 0
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        lay = _layout(self.count, self.dim, self.dtype)
        with open(self._tmp, "wb") as f:
            f.write(_HEADER.pack(MAGIC, VERSION, self.dim, _CODES[self.dtype], int(normalize), self.count).ljust(HEADER_SIZE, b"\0"))
            f.truncate(lay["size"])
        self._ids = np.memmap(self._tmp, np.int64, "r+", lay["ids"], (self.count,))
        self._scales = np.memmap(self._tmp, np.float32, "r+", lay["scales"], (self.count,)) if self.dtype == "int8" else None
        self._codes = np.memmap(self._tmp, self.dtype, "r+", lay["codes"], (self.count, self.dim))

    def add(self, embeddings, ids=None) -> None:
        x = check_embeddings(embeddings, self.dim, "embeddings", self.normalize)
        n = x.shape[0]
        if self.written + n > self.count:
            raise ValueError(f"{self.path}: adding {n} rows would exceed count={self.count} (already {self.written})")
        codes, scales = encode(x, self.dtype)
        a, b = self.written, self.written + n
        self._codes[a:b] = codes
        self._ids[a:b] = check_ids(ids, n, a)
        if scales is not None:
            self._scales[a:b] = scales
        self.written = b

    def _release(self) -> None:
        for m in (self._codes, self._ids, self._scales):
            if m is not None:
                m.flush()
        self._codes = self._ids = self._scales = None

    def close(self) -> Path:
        if self._codes is None:
            return self.path
        self._release()
        if self.written != self.count:
            self._tmp.unlink(missing_ok=True)
            raise ValueError(f"{self.path}: {self.written} rows written, the header promised count={self.count}; file not created")
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        self._release()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_gallery(path, embeddings, ids=None, dtype: str = "float32", normalize: bool = True,
                  chunk_rows: int = 65536) -> Path:
    """Write an in-memory [n, dim] gallery to ``path`` in the format above."""
    x = np.asarray(embeddings)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"embeddings: expected a non-empty [n, dim] array, got shape {x.shape}")
    ids = check_ids(ids, x.shape[0], 0)
    with GalleryWriter(path, x.shape[0], x.shape[1], dtype, normalize) as w:
        for a in range(0, x.shape[0], chunk_rows):
            w.add(x[a : a + chunk_rows], ids[a : a + chunk_rows])
    return Path(path)


class MemmapIndex(Index):
    """Exact search over a gallery file, memory-mapped and streamed ``chunk_rows`` rows at a time (read-only)."""

    kind = "memmap"

    def __init__(self, path, chunk_rows: int | None = None, query_block: int = 1024, release_pages: bool = True):
        header = read_header(path)
        super().__init__(header["dim"], header["dtype"], normalize=header["normalized"])  # queries like the rows
        self.path, self.header = Path(path), header
        self.chunk_rows = default_chunk_rows(self.dim) if chunk_rows is None else int(chunk_rows)
        self.query_block, self.release_pages = int(query_block), release_pages
        lay, n = header["layout"], header["count"]
        if n == 0:
            raise ValueError(f"{path}: the gallery file holds no rows (count=0)")
        with open(self.path, "rb") as f:
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.ids = np.frombuffer(self._mm, np.int64, n, lay["ids"])
        self.scales = np.frombuffer(self._mm, np.float32, n, lay["scales"]) if self.storage == "int8" else None
        if self.scales is not None and not (np.isfinite(self.scales).all() and (self.scales > 0).all()):
            raise ValueError(f"{path}: int8 scales contain non-positive or non-finite values (damaged file)")
        self.codes = np.frombuffer(self._mm, self.storage, n * self.dim, lay["codes"]).reshape(n, self.dim)
        self._row_bytes = self.dim * np.dtype(self.storage).itemsize

    @property
    def ntotal(self) -> int:
        return self.header["count"]

    @property
    def nbytes(self) -> int:
        """Bytes of the file on disk (not resident memory)."""
        return self.header["layout"]["size"]

    def add(self, embeddings, ids=None) -> None:
        raise TypeError(f"{self.path}: a memory-mapped gallery is read-only; write a new one with GalleryWriter")

    def _drop(self, start: int, stop: int) -> None:
        if not self.release_pages or not hasattr(self._mm, "madvise"):
            return
        a = self.header["layout"]["codes"] + start * self._row_bytes
        b = self.header["layout"]["codes"] + stop * self._row_bytes
        a -= a % mmap.PAGESIZE
        try:
            self._mm.madvise(mmap.MADV_DONTNEED, a, b - a)
        except (OSError, ValueError, AttributeError):
            self.release_pages = False

    def _search(self, queries: np.ndarray, k: int) -> SearchResult:
        codes, scales = self.codes, self.scales

        def read(a, b):
            return codes[a:b], None if scales is None else scales[a:b]

        s, pos = topk_scan(queries, self.ntotal, read, k, self.chunk_rows, self.query_block, self._drop)
        return pad_result(s, np.asarray(self.ids[pos]), k)

    def close(self) -> None:
        self.ids = self.scales = self.codes = None
        try:
            self._mm.close()
        except BufferError:
            pass  # a caller still holds a view; the mapping closes when it is collected


def open_gallery(path, chunk_rows: int | None = None, query_block: int = 1024) -> MemmapIndex:
    """Open a gallery file written by :class:`GalleryWriter` / :func:`write_gallery` for streamed exact search."""
    return MemmapIndex(path, chunk_rows, query_block)
