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


def _count(text: str) -> int:
    """A non-negative integer in ASCII digits (``int`` would also take '٣', '１', '1_0', '+1')."""
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise ValueError(text)
    return int(text)


def _name(text: str) -> str:
    """An identity name: one path component (no separators, not '.' or '..')."""
    if "/" in text or "\\" in text or text in (".", "..") or "\x00" in text:
        raise ValueError(text)
    return text


def read_text_lines(path: str, what: str) -> List[str]:
    """The non-empty stripped lines of a UTF-8 text file; FileNotFoundError / ValueError name ``path``."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: a {what} is UTF-8 text, found byte 0x{e.object[e.start]:02x} "
                         f"at offset {e.start}") from None
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def read_pairs(pairs_file: str, ext: str = ".jpg") -> List[Pair]:
    """Parse an LFW pairs file, keeping folds in file order.

    Raises ValueError naming the file and line for any malformed content (also
    text that is not UTF-8, numbers not in ASCII digits, negative numbers, and
    names that are not a single path component), FileNotFoundError for a missing file.
    """
    pairs_file = os.fspath(pairs_file)
    lines = read_text_lines(pairs_file, "pairs file")
    if not lines:
        raise ValueError(f"{pairs_file}: empty pairs file")
    header = lines[0].split()
    try:
        if len(header) == 2:
            folds, per_fold = _count(header[0]), _count(header[1])
        elif len(header) == 1:
            folds, per_fold = 1, _count(header[0])
        else:
            raise ValueError
        if folds == 0 or per_fold == 0:
            raise ValueError
    except ValueError:
        raise ValueError(f"{pairs_file}:1: header must be '<folds> <n>' or '<n>' (positive integers), "
                         f"got {lines[0]!r}") from None
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
                p = Pair(fold, lfw_image_path(_name(name), _count(i), ext), lfw_image_path(name, _count(j), ext), True)
            elif len(parts) == 4:
                n1, i, n2, j = parts
                p = Pair(fold, lfw_image_path(_name(n1), _count(i), ext), lfw_image_path(_name(n2), _count(j), ext), False)
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
