"""Closed-set identification: full-resolution gallery, degraded probes.

From an identity-folder dataset (``root/<identity>/<image>``), each identity
contributes one gallery image at full resolution (its first file in sorted
order, or one drawn with ``gallery_seed``); all its other images are probes,
degraded to the evaluated size. Identities with a single image stay in the
gallery as distractors. A probe's rank is 1 + the number of gallery entries
more similar (cosine) than its own identity's entry (ties count in the
probe's favour); CMC(k) is the fraction of probes with rank <= k.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

from lrfr_tf.eval.cache import EmbeddingCache
from lrfr_tf.eval.degradation import ResolutionDegradation
from lrfr_tf.eval.embedders import Embedder
from lrfr_tf.eval.imageset import ImageSet, embed_images
from lrfr_tf.eval.protocols import HR
from lrfr_tf.provenance import recorded_path


class IdentificationData:
    """Gallery/probe split of an identity folder (``lrfr_tf.data.folders.IdentityFolder``)."""

    def __init__(self, root: str, gallery_seed: Optional[int] = None, identities: str = "all"):
        from lrfr_tf.data.folders import IdentityFolder

        folder = IdentityFolder(root, identities=identities)
        self.identities = identities
        self.root = folder.root
        self.gallery_seed = gallery_seed
        self.image_set = ImageSet(folder.root, folder.relative_paths(), source=folder.root)
        labels = folder.labels
        self.class_names = folder.class_names
        starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])  # paths are grouped by identity
        counts = np.diff(np.r_[starts, labels.size])
        if gallery_seed is None:
            offsets = np.zeros_like(counts)
        else:
            import tensorflow as tf

            u = tf.random.stateless_uniform([counts.size], seed=[int(gallery_seed), 1], dtype=tf.float64).numpy()
            offsets = np.minimum((u * counts).astype(np.int64), counts - 1)
        self.gallery = starts + offsets
        self.gallery_labels = labels[self.gallery]
        is_probe = np.ones(labels.size, bool)
        is_probe[self.gallery] = False
        self.probes = np.flatnonzero(is_probe)
        self.probe_labels = labels[self.probes]
        if self.probes.size == 0:
            raise ValueError(f"{root}: every identity has a single image, so there are no probes")
        # Column of each probe's identity in the gallery.
        column = {int(l): i for i, l in enumerate(self.gallery_labels)}
        self.probe_targets = np.array([column[int(l)] for l in self.probe_labels], np.int64)

    def describe(self) -> Dict[str, object]:
        return {
            "root": recorded_path(self.root),
            "identities": self.identities,
            "num_identities": int(self.gallery.size),
            "gallery_size": int(self.gallery.size),
            "num_probes": int(self.probes.size),
            "gallery_choice": "first file of each identity" if self.gallery_seed is None else f"stateless seed {self.gallery_seed}",
            "images_sha256": self.image_set.data_hash,
        }


def cmc(similarities: np.ndarray, targets: np.ndarray, max_rank: int = 20) -> np.ndarray:
    """CMC curve [max_rank] from probe x gallery similarities and each probe's true gallery column."""
    true = similarities[np.arange(similarities.shape[0]), targets]
    ranks = 1 + np.sum(similarities > true[:, None], axis=1)
    return np.array([np.mean(ranks <= k) for k in range(1, max_rank + 1)])


def evaluate_identification(
    embedder: Embedder,
    data: IdentificationData,
    sizes: Sequence[int],
    degradation: Optional[ResolutionDegradation] = None,
    cache: Optional[EmbeddingCache] = None,
    max_rank: int = 20,
    progress: bool = True,
) -> Dict[str, object]:
    """Rank-1 and CMC up to ``max_rank`` with probes at each size (gallery at full resolution)."""
    degradation = degradation or ResolutionDegradation()
    cache = cache if cache is not None else EmbeddingCache()
    gallery = embed_images(embedder, data.image_set, data.gallery, HR, degradation, cache, progress)
    results = {}
    for size in sizes:
        probes = embed_images(embedder, data.image_set, data.probes, int(size), degradation, cache, progress)
        curve = cmc(probes.astype(np.float64) @ gallery.T.astype(np.float64), data.probe_targets, max_rank)
        results[str(int(size))] = {"rank1": float(curve[0]), "cmc": curve.tolist()}
    return {**data.describe(), "max_rank": max_rank, "sizes": results}
