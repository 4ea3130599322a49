"""Embedding cache keyed by (embedder fingerprint, input key, image content hash).

The input key names what the image was turned into before embedding (``"hr"``
or a degradation at a size, see ``ResolutionDegradation.key``); the image is
identified by the sha256 of its file, so the same picture under two datasets or
paths is embedded once, and a changed file is never served a stale vector.
In a sweep the full-resolution side of every pair, size 112 in CR and ER and
the published protocols' 112 px images are one input: embedded once.

With ``directory`` the tables persist as ``<directory>/<fingerprint[:16]>/<input key>.npz``
(loaded on first use, written by ``save()``), so re-running a report or adding
a model to it only embeds what is new.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np


class EmbeddingCache:
    def __init__(self, directory: Optional[str] = None):
        self.directory = directory
        self._tables: Dict[Tuple[str, str], Dict[str, np.ndarray]] = {}
        self._dirty: set = set()
        self.hits = 0
        self.misses = 0

    def _file(self, fingerprint: str, input_key: str) -> str:
        return os.path.join(self.directory, fingerprint[:16], f"{input_key}.npz")

    def _table(self, fingerprint: str, input_key: str) -> Dict[str, np.ndarray]:
        key = (fingerprint, input_key)
        if key not in self._tables:
            table: Dict[str, np.ndarray] = {}
            if self.directory is not None and os.path.isfile(self._file(*key)):
                with np.load(self._file(*key)) as data:
                    if str(data["fingerprint"]) != fingerprint:
                        raise ValueError(f"{self._file(*key)}: cache file belongs to fingerprint {data['fingerprint']}")
                    table = dict(zip(data["images"].tolist(), data["embeddings"]))
            self._tables[key] = table
        return self._tables[key]

    def missing(self, fingerprint: str, input_key: str, image_ids: Sequence[str]) -> List[int]:
        """Positions in ``image_ids`` without a cached embedding (counts hits and misses)."""
        table = self._table(fingerprint, input_key)
        out = [i for i, h in enumerate(image_ids) if h not in table]
        self.misses += len(out)
        self.hits += len(image_ids) - len(out)
        return out

    def get(self, fingerprint: str, input_key: str, image_ids: Sequence[str]) -> np.ndarray:
        table = self._table(fingerprint, input_key)
        return np.stack([table[h] for h in image_ids])

    def put(self, fingerprint: str, input_key: str, image_ids: Sequence[str], embeddings: np.ndarray) -> None:
        table = self._table(fingerprint, input_key)
        for h, e in zip(image_ids, embeddings):
            table[h] = np.asarray(e, np.float32)
        self._dirty.add((fingerprint, input_key))

    def save(self) -> None:
        if self.directory is None:
            return
        for fingerprint, input_key in sorted(self._dirty):
            table = self._tables[(fingerprint, input_key)]
            path = self._file(fingerprint, input_key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = path + ".tmp.npz"
            np.savez(tmp, fingerprint=fingerprint, images=np.array(list(table)), embeddings=np.stack(list(table.values())))
            os.replace(tmp, path)
        self._dirty.clear()

    def stats(self) -> Dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "entries": sum(len(t) for t in self._tables.values())}
