"""LFW-style verification pairs (``pairs.txt``, ``pairsDevTrain.txt``, ``pairsDevTest.txt``).

Format (Huang et al. 2007): a header ``<folds> <n>`` (View 2: ``10 300``) or just
``<n>`` (View 1), then per fold ``n`` same-person lines ``name i j`` followed by
``n`` different-person lines ``name1 i name2 j``. Image ``i`` of ``name`` is
``<root>/<name>/<name>_<iiii>.jpg``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import List, Sequence


@dataclasses.dataclass(frozen=True)
class Pair:
    fold: int
    path1: str  # relative to the image root, e.g. "Abel_Pacheco/Abel_Pacheco_0001.jpg"
    path2: str
    same: bool


def lfw_image_path(name: str, number: int, ext: str = ".jpg") -> str:
    return f"{name}/{name}_{int(number):04d}{ext}"


def read_pairs(pairs_file: str, ext: str = ".jpg") -> List[Pair]:
    """Parse an LFW pairs file, keeping folds in file order.

    Raises ValueError naming the file and line for any malformed content.
    """
    with open(pairs_file, "r", encoding="utf-8") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    if not lines:
        raise ValueError(f"{pairs_file}: empty pairs file")
    header = lines[0].split()
    try:
        if len(header) == 2:
            folds, per_fold = int(header[0]), int(header[1])
        elif len(header) == 1:
            folds, per_fold = 1, int(header[0])
        else:
            raise ValueError
    except ValueError:
        raise ValueError(f"{pairs_file}:1: header must be '<folds> <n>' or '<n>', got {lines[0]!r}") from None
    body = lines[1:]
    expected = folds * 2 * per_fold
    if len(body) != expected:
        raise ValueError(
            f"{pairs_file}: header {lines[0]!r} promises {expected} pairs "
            f"({folds} folds x 2 x {per_fold}) but the file has {len(body)} pair lines"
        )
    pairs: List[Pair] = []
    for k, line in enumerate(body):
        lineno = k + 2
        fold, pos = divmod(k, 2 * per_fold)
        expect_same = pos < per_fold
        parts = line.split()
        try:
            if len(parts) == 3:
                name, i, j = parts
                p = Pair(fold, lfw_image_path(name, int(i), ext), lfw_image_path(name, int(j), ext), True)
            elif len(parts) == 4:
                n1, i, n2, j = parts
                p = Pair(fold, lfw_image_path(n1, int(i), ext), lfw_image_path(n2, int(j), ext), False)
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"{pairs_file}:{lineno}: expected 'name i j' or 'name1 i name2 j', got {line!r}") from None
        if p.same != expect_same:
            raise ValueError(
                f"{pairs_file}:{lineno}: a {'same' if p.same else 'different'}-person line where fold "
                f"{fold + 1} expects {'same' if expect_same else 'different'}-person pairs"
            )
        pairs.append(p)
    return pairs


def check_pairs_exist(pairs: Sequence[Pair], root: str, pairs_file: str = "pairs") -> None:
    """Raise FileNotFoundError listing every pair image missing under ``root``."""
    missing = sorted({p for pair in pairs for p in (pair.path1, pair.path2) if not os.path.isfile(os.path.join(root, p))})
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise FileNotFoundError(f"{pairs_file}: {len(missing)} image(s) named by the pairs are missing under {root}: {shown}")


def unique_paths(pairs: Sequence[Pair]) -> List[str]:
    """Distinct image paths in first-appearance order."""
    seen = {}
    for pair in pairs:
        seen.setdefault(pair.path1, None)
        seen.setdefault(pair.path2, None)
    return list(seen)
