"""Resolution protocols for pair verification (Knoche et al., arXiv 2107.03769).

A ``PairProtocol`` says at which side length each image of each pair is seen,
as one or more *flips*: (sizes of the first images, sizes of the second
images). The reported accuracy averages the flips' 10-fold accuracies:

* ``hr``: both images at full resolution.
* ``cr`` at r (cross-resolution): flip 1 degrades the second image to r, flip 2
  the first image ("averaging both flips", Knoche et al. Sec. 4).
* ``er`` at r (equal resolution): both images at r, a single flip.
* a protocol file: one size per image in pairs order (pair i = values 2i, 2i+1);
  flip 2 swaps the two sizes of every pair (the second image's size is applied
  to the first image and vice versa).

Protocol files (the published ``low_res_focus``, ``mid_res_focus``,
``high_res_focus`` and ``avg_sizes`` = "all_res") are one comma-separated line
of ``2 * num_pairs`` positive integers.
"""

from __future__ import annotations

import dataclasses
import os
from typing import List, Sequence, Tuple

import numpy as np

from lrfr_tf.data.pairs import read_text_lines
from lrfr_tf.provenance import recorded_path

#: The published protocol files (file stem) and the names used in reports.
PUBLISHED = {"low_res_focus": "low_res", "mid_res_focus": "mid_res", "high_res_focus": "high_res", "avg_sizes": "all_res"}

#: The sweep of Knoche et al. (side lengths in pixels).
DEFAULT_SIZES = (5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 56, 112)

#: Marks "full resolution, not degraded" in size arrays.
HR = 0

#: Largest side length a protocol file may give (JPEG's limit).
MAX_SIZE = 65535


@dataclasses.dataclass(frozen=True)
class PairProtocol:
    """Sizes of both images of every pair, per flip (``HR`` = not degraded)."""

    name: str
    kind: str  # "hr", "cr", "er" or "file"
    flips: Tuple[Tuple[np.ndarray, np.ndarray], ...]
    size: int | None = None  # the swept size for cr / er
    source: str | None = None  # protocol file, if any
    sha256: str | None = None  # of the protocol file

    def describe(self) -> dict:
        d = {"name": self.name, "kind": self.kind, "num_flips": len(self.flips)}
        if self.size is not None:
            d["size"] = self.size
        if self.source is not None:
            d["source"] = recorded_path(self.source)
        if self.sha256 is not None:
            d["sha256"] = self.sha256
        return d


def hr_protocol(num_pairs: int) -> PairProtocol:
    full = np.full(num_pairs, HR, np.int32)
    return PairProtocol("hr", "hr", ((full, full),))


def cross_resolution(num_pairs: int, size: int) -> PairProtocol:
    """One image of each pair at ``size``, the other at full resolution; both flips."""
    full, low = np.full(num_pairs, HR, np.int32), np.full(num_pairs, int(size), np.int32)
    return PairProtocol(f"cr_{size}", "cr", ((full, low), (low, full)), size=int(size))


def equal_resolution(num_pairs: int, size: int) -> PairProtocol:
    low = np.full(num_pairs, int(size), np.int32)
    return PairProtocol(f"er_{size}", "er", ((low, low),), size=int(size))


def from_sizes(name: str, sizes: np.ndarray, source: str | None = None, sha256: str | None = None) -> PairProtocol:
    """A protocol from per-image sizes (pairs order); flip 2 swaps each pair's sizes."""
    sizes = np.asarray(sizes, np.int32).reshape(-1, 2)
    first, second = sizes[:, 0].copy(), sizes[:, 1].copy()
    return PairProtocol(name, "file", ((first, second), (second, first)), source=source, sha256=sha256)


def read_protocol(path: str, num_pairs: int | None = None) -> np.ndarray:
    """Read a protocol CSV: one line of ``2 * num_pairs`` positive ints -> np.int32 [2N].

    Raises ValueError naming the file for values that are not integers in ASCII
    digits (also '٣' or '１', which ``int`` would take), sizes outside 1..``MAX_SIZE``,
    extra lines, an odd count, a count that does not match ``num_pairs``, or text
    that is not UTF-8; FileNotFoundError for a missing file.
    """
    path = os.fspath(path)
    lines = read_text_lines(path, "protocol file")
    if len(lines) != 1:
        raise ValueError(f"{path}: a protocol file is one line of comma-separated sizes, found {len(lines)} lines")
    fields = [v.strip() for v in lines[0].split(",")]
    ints = []
    for k, v in enumerate(fields):
        # ASCII digits only: int() would also take '٣' or '１' (and '1_000'), which no protocol file holds.
        body = v[1:] if v[:1] in "+-" else v
        if not body or not (body.isascii() and body.isdigit()):
            raise ValueError(f"{path}: protocol values must be integers, got {v!r} "
                             f"(value {k + 1}; ASCII digits 0-9 only)")
        if len(body) > 9:
            raise ValueError(f"{path}: protocol value {v!r} at value {k + 1} is out of range "
                             f"(a side length in pixels, at most {MAX_SIZE})")
        ints.append(int(v))
    values = np.array(ints, dtype=np.int64)
    if values.size % 2:
        raise ValueError(f"{path}: {values.size} sizes is odd; a protocol has two sizes per pair")
    if num_pairs is not None and values.size != 2 * num_pairs:
        raise ValueError(
            f"{path}: {values.size} sizes but the pairs file has {num_pairs} pairs "
            f"(expected {2 * num_pairs}: one size per image in pairs order)"
        )
    if values.min() <= 0:
        raise ValueError(f"{path}: sizes must be positive, got {int(values.min())}")
    if values.max() > MAX_SIZE:
        raise ValueError(f"{path}: sizes are side lengths in pixels, at most {MAX_SIZE}, got {int(values.max())}")
    return values.astype(np.int32)


def write_protocol(path: str, sizes: Sequence[int]) -> None:
    """Write sizes in the published format (one comma-separated line)."""
    sizes = np.asarray(sizes).reshape(-1)
    if sizes.size % 2 or sizes.size == 0:
        raise ValueError(f"a protocol has two sizes per pair, got {sizes.size} values")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(str(int(v)) for v in sizes) + "\n")


def generate_protocol(num_pairs: int, low: int, high: int, seed: int, hr_size: int = 112) -> np.ndarray:
    """A user-defined protocol like the published ones: per pair (hr_size, r), r uniform in [low, high].

    Drawn with ``tf.random.stateless_uniform`` (seed ``[seed, 0]``) so the same
    seed gives the same protocol everywhere. Returns np.int32 [2 * num_pairs].
    """
    import tensorflow as tf

    if not 0 < low <= high:
        raise ValueError(f"need 0 < low <= high, got low={low}, high={high}")
    r = tf.random.stateless_uniform([num_pairs], seed=[int(seed), 0], minval=int(low), maxval=int(high) + 1, dtype=tf.int32)
    return np.stack([np.full(num_pairs, hr_size, np.int32), r.numpy()], axis=1).reshape(-1)


def published_protocol_path(protocols_dir: str, stem: str) -> str:
    if stem not in PUBLISHED:
        raise ValueError(f"unknown published protocol {stem!r}; known: {', '.join(PUBLISHED)}")
    return os.path.join(protocols_dir, f"{stem}.csv")


def sweep(num_pairs: int, sizes: Sequence[int], modes: Sequence[str] = ("cr", "er")) -> List[PairProtocol]:
    """CR and/or ER protocols at every size."""
    make = {"cr": cross_resolution, "er": equal_resolution}
    unknown = [m for m in modes if m not in make]
    if unknown:
        raise ValueError(f"unknown sweep mode(s) {unknown}; use 'cr' and/or 'er'")
    return [make[m](num_pairs, s) for m in modes for s in sizes]
