"""Evaluation images held in memory, and embedding them at a resolution through the cache."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

import numpy as np

from lrfr_tf.eval.cache import EmbeddingCache
from lrfr_tf.eval.degradation import HR_KEY, ResolutionDegradation
from lrfr_tf.eval.embedders import Embedder, NonFiniteEmbeddingError


class ImageSet:
    """Distinct image files under ``root`` (relative paths), decoded once as uint8 RGB.

    Missing files raise FileNotFoundError naming them and ``source`` (the
    pairs file or dataset that asked for them). ``ids`` are the sha256 of each
    file (the cache key); ``data_hash`` is the sha256 over (path, file hash)
    of every image, identifying the evaluation data in reports.
    """

    def __init__(self, root: str, paths: Sequence[str], source: str, image_size=(112, 112)):
        self.root = os.fspath(root)
        self.paths: List[str] = list(paths)
        self.source = source
        self.image_size = tuple(image_size)
        self.index: Dict[str, int] = {p: i for i, p in enumerate(self.paths)}
        missing = [p for p in self.paths if not os.path.isfile(os.path.join(self.root, p))]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise FileNotFoundError(f"{source}: {len(missing)} image(s) are missing under {self.root}: {shown}")
        self._images: Optional[np.ndarray] = None
        self._ids: Optional[List[str]] = None

    def __len__(self) -> int:
        return len(self.paths)

    def full_path(self, i: int) -> str:
        return os.path.join(self.root, self.paths[i])

    @property
    def ids(self) -> List[str]:
        if self._ids is None:
            ids = []
            for i in range(len(self)):
                with open(self.full_path(i), "rb") as f:
                    ids.append(hashlib.sha256(f.read()).hexdigest())
            self._ids = ids
        return self._ids

    @property
    def data_hash(self) -> str:
        h = hashlib.sha256()
        for p, i in sorted(zip(self.paths, self.ids)):
            h.update(f"{p}\0{i}\n".encode())
        return h.hexdigest()

    def images(self, progress: bool = True) -> np.ndarray:
        """uint8 RGB [N, H, W, 3], decoded on first use (lrfr_tf.data.images.load_images)."""
        if self._images is None:
            from lrfr_tf.data.images import load_images

            self._images = load_images([self.full_path(i) for i in range(len(self))], size=self.image_size, progress=progress)
        return self._images


def embed_images(
    embedder: Embedder,
    image_set: ImageSet,
    indices: Sequence[int],
    size: int,
    degradation: ResolutionDegradation,
    cache: EmbeddingCache,
    progress: bool = True,
    chunk: int = 256,
) -> np.ndarray:
    """Embeddings of ``image_set[indices]`` degraded to ``size`` -> float32 [len(indices), D].

    Only inputs not yet in ``cache`` are degraded and embedded (each once, by ``embed_inputs``).
    """
    embed_inputs(embedder, image_set, {int(size): indices}, degradation, cache, progress, chunk)
    return cache.get(embedder.fingerprint, degradation.key(size, image_set.image_size), [image_set.ids[i] for i in indices])


def embed_inputs(
    embedder: Embedder,
    image_set: ImageSet,
    requests: Dict[int, Sequence[int]],
    degradation: ResolutionDegradation,
    cache: EmbeddingCache,
    progress: bool = True,
    chunk: int = 256,
) -> int:
    """Put into ``cache`` every input of ``requests`` ({size: image indices}) it does not hold; returns how many.

    Inputs that are one input (the same image file, sizes with the same degradation key) are embedded once.
    One stream of chunks over every size and one progress bar; the next chunk is degraded in a background
    thread while this one is embedded.
    """
    fingerprint = embedder.fingerprint
    wanted: Dict[str, Dict[str, int]] = {}  # degradation key -> {image id: image index}
    sizes: Dict[str, int] = {}
    for size, indices in requests.items():
        key = degradation.key(int(size), image_set.image_size)
        sizes.setdefault(key, int(size))
        for i in indices:
            wanted.setdefault(key, {}).setdefault(image_set.ids[i], int(i))  # an image listed twice is embedded once
    todo: Dict[str, List[int]] = {}
    for key, by_id in wanted.items():
        ids = list(by_id)
        todo[key] = [by_id[ids[pos]] for pos in cache.missing(fingerprint, key, ids)]
    chunks = [(key, order[start : start + chunk]) for key, order in todo.items() for start in range(0, len(order), chunk)]
    total = sum(len(sel) for _, sel in chunks)
    if not total:
        return 0
    images = image_set.images(progress)
    bar = None
    if progress:
        from lrfr_tf.cli_logging import progress_bar

        keys = [key for key, order in todo.items() if order]
        only = keys[0] if len(keys) == 1 else f"{len(keys)} degradations"
        bar = progress_bar(total=total, desc=f"{embedder.name} @ {only}", unit="img", leave=False)
    with ThreadPoolExecutor(1, thread_name_prefix="degrade") as pool:
        degrade = lambda k: pool.submit(degradation, images[chunks[k][1]], sizes[chunks[k][0]])  # noqa: E731
        pending = degrade(0)
        for k, (key, sel) in enumerate(chunks):
            x = pending.result()
            if k + 1 < len(chunks):
                pending = degrade(k + 1)
            try:
                emb = embedder.embed_gallery(x) if key == HR_KEY else embedder.embed(x)
            except NonFiniteEmbeddingError as e:
                files = [image_set.full_path(sel[i]) for i in e.indices[:5]]
                raise ValueError(f"{e} at {key}; files: {', '.join(files)}") from None
            cache.put(fingerprint, key, [image_set.ids[i] for i in sel], emb)
            if bar is not None:
                bar.update(len(sel))
    if bar is not None:
        bar.close()
    return total
