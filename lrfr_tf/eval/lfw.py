"""Pair verification on an LFW-format dataset under resolution protocols.

A dataset directory holds ``pairs.txt`` (or another pairs file) and the
images under ``aligned112/<name>/<name>_NNNN.jpg``; the shared LFW copy and
the embedded sample ``lrfr_tf/data/sample/lfw`` both have this layout.
"""

from __future__ import annotations

import logging
import os
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from lrfr_tf.data.pairs import read_pairs, unique_paths
from lrfr_tf.eval import protocols as P
from lrfr_tf.eval.cache import EmbeddingCache
from lrfr_tf.eval.degradation import ResolutionDegradation
from lrfr_tf.eval.embedders import Embedder, load_embedder, sha256_file
from lrfr_tf.eval.imageset import ImageSet, embed_images, embed_inputs
from lrfr_tf.eval.verification import kfold_accuracy, roc_summary
from lrfr_tf.provenance import recorded_path

log = logging.getLogger(__name__)


#: Folds a single-set pairs file (LFW View 1) is split into for the 10-fold threshold selection.
SINGLE_SET_FOLDS = 10


def interleaved_folds(labels: np.ndarray, k: int = SINGLE_SET_FOLDS) -> np.ndarray:
    """Fold ids for a pairs file with one set: the i-th same-person pair and the i-th different-person pair go to
    fold i mod k, so every fold has the same share of each (View 1's 500 + 500 pairs: 50 + 50 per fold)."""
    labels = np.asarray(labels, bool)
    folds = np.empty(labels.size, np.int32)
    for value in (True, False):
        idx = np.flatnonzero(labels == value)
        folds[idx] = np.arange(idx.size) % k
    return folds


class PairsData:
    """An LFW-style pairs file with its images (decoded once, on first use)."""

    def __init__(self, data_dir: str, pairs_file: str = "pairs.txt", images_subdir: str = "aligned112"):
        self.data_dir = os.fspath(data_dir)
        self.pairs_file = pairs_file if os.path.isfile(pairs_file) else os.path.join(self.data_dir, pairs_file)
        if not os.path.isfile(self.pairs_file):
            raise FileNotFoundError(f"{self.pairs_file}: no such pairs file")
        self.pairs = read_pairs(self.pairs_file)
        self.image_set = ImageSet(os.path.join(self.data_dir, images_subdir), unique_paths(self.pairs), source=self.pairs_file)
        index = self.image_set.index
        self.idx1 = np.array([index[p.path1] for p in self.pairs], np.int64)
        self.idx2 = np.array([index[p.path2] for p in self.pairs], np.int64)
        self.labels = np.array([p.same for p in self.pairs], bool)
        self.folds = np.array([p.fold for p in self.pairs], np.int32)
        self.folds_from_file = True
        if np.unique(self.folds).size == 1:  # View 1 (pairsDevTest.txt): one set; split it for threshold selection
            self.folds = interleaved_folds(self.labels)
            self.folds_from_file = False

    @property
    def num_pairs(self) -> int:
        return len(self.pairs)

    def describe(self) -> Dict[str, object]:
        return {
            "data_dir": recorded_path(self.data_dir),
            "pairs_file": recorded_path(self.pairs_file),
            "pairs_sha256": sha256_file(self.pairs_file),
            "num_pairs": self.num_pairs,
            "num_folds": int(np.unique(self.folds).size),
            "folds": "from the pairs file" if self.folds_from_file else
            f"one set in the file: split into {SINGLE_SET_FOLDS} interleaved folds (lrfr_tf.eval.lfw.interleaved_folds)",
            "num_images": len(self.image_set),
            "images_sha256": self.image_set.data_hash,
        }


def check_protocol(data: PairsData, protocol: P.PairProtocol) -> None:
    """ValueError naming the protocol unless every flip gives a size to each pair of ``data``."""
    for s1, s2 in protocol.flips:
        if s1.shape != (data.num_pairs,) or s2.shape != (data.num_pairs,):
            raise ValueError(f"protocol {protocol.name}: sizes for {s1.size} pairs, but {data.pairs_file} has {data.num_pairs}")


def flip_inputs(data: PairsData, sizes1: np.ndarray, sizes2: np.ndarray) -> Dict[int, np.ndarray]:
    """{size: sorted distinct image indices seen at that size} when image 1 of pair i is at ``sizes1[i]`` and
    image 2 at ``sizes2[i]``."""
    return {int(s): np.unique(np.r_[data.idx1[sizes1 == s], data.idx2[sizes2 == s]]) for s in np.unique(np.r_[sizes1, sizes2])}


def protocol_inputs(data: PairsData, protocols: Sequence[P.PairProtocol]) -> Dict[int, np.ndarray]:
    """{size: distinct image indices} over every flip of every protocol: what they embed, each input once."""
    out: Dict[int, np.ndarray] = {}
    for protocol in protocols:
        for s1, s2 in protocol.flips:
            for size, indices in flip_inputs(data, s1, s2).items():
                out[size] = np.union1d(out.get(size, indices[:0]), indices)
    return out


def pair_scores(
    embedder: Embedder,
    data: PairsData,
    sizes1: np.ndarray,
    sizes2: np.ndarray,
    degradation: ResolutionDegradation,
    cache: EmbeddingCache,
    progress: bool = True,
) -> np.ndarray:
    """Cosine similarity of every pair with image 1 at ``sizes1[i]`` and image 2 at ``sizes2[i]``."""
    dim = embedder.embedding_dim
    e1 = np.zeros((data.num_pairs, dim), np.float32)
    e2 = np.zeros((data.num_pairs, dim), np.float32)
    for s, need in flip_inputs(data, sizes1, sizes2).items():
        m1, m2 = sizes1 == s, sizes2 == s
        emb = embed_images(embedder, data.image_set, need, s, degradation, cache, progress)
        e1[m1] = emb[np.searchsorted(need, data.idx1[m1])]
        e2[m2] = emb[np.searchsorted(need, data.idx2[m2])]
    return np.sum(e1.astype(np.float64) * e2, axis=1)


def evaluate_protocol(
    embedder: Embedder,
    data: PairsData,
    protocol: P.PairProtocol,
    degradation: ResolutionDegradation,
    cache: EmbeddingCache,
    progress: bool = True,
) -> Tuple[Dict[str, object], np.ndarray]:
    """10-fold accuracy per flip, averaged; ROC figures on the pooled scores of all flips.

    Returns (result, scores [num_flips, num_pairs]). ``fold_accuracies`` are the
    per-fold accuracies averaged over flips; ``accuracy`` and ``std`` are their
    mean and std (the mean equals the mean of the flips' accuracies).
    """
    scores, flips = [], []
    check_protocol(data, protocol)
    for s1, s2 in protocol.flips:
        sc = pair_scores(embedder, data, s1, s2, degradation, cache, progress)
        scores.append(sc)
        flips.append(kfold_accuracy(sc, data.labels, data.folds))
    fold_acc = np.mean([f["fold_accuracies"] for f in flips], axis=0)
    pooled = np.concatenate(scores)
    labels = np.tile(data.labels, len(scores))
    result = {
        **protocol.describe(),
        "accuracy": float(fold_acc.mean()),
        "std": float(fold_acc.std()),
        "fold_accuracies": fold_acc.tolist(),
        "flips": flips,
        **roc_summary(pooled, labels),
        "similarity": {
            "positive": {"mean": float(pooled[labels].mean()), "std": float(pooled[labels].std())},
            "negative": {"mean": float(pooled[~labels].mean()), "std": float(pooled[~labels].std())},
        },
    }
    return result, np.stack(scores)


def evaluate_verification(
    embedder: Embedder,
    data: PairsData,
    protocols: Sequence[P.PairProtocol],
    degradation: Optional[ResolutionDegradation] = None,
    cache: Optional[EmbeddingCache] = None,
    progress: bool = True,
) -> Tuple[Dict[str, Dict[str, object]], Dict[str, np.ndarray]]:
    """Every protocol for one embedder -> ({name: result}, {name: scores [flips, pairs]})."""
    degradation = degradation or ResolutionDegradation()
    cache = cache if cache is not None else EmbeddingCache()
    names = [p.name for p in protocols]
    if len(set(names)) != len(names):
        raise ValueError(f"protocol names must be distinct, got {names}")
    for protocol in protocols:
        check_protocol(data, protocol)
    # Every input of every protocol first, in one stream (full chunks, degradation overlapped); the protocols
    # then read the cache.
    embed_inputs(embedder, data.image_set, protocol_inputs(data, protocols), degradation, cache, progress)
    results, scores = {}, {}
    for done, protocol in enumerate(protocols, 1):  # one progress bar at a time: the embedding's, then a log line
        results[protocol.name], scores[protocol.name] = evaluate_protocol(embedder, data, protocol, degradation, cache, progress)
        if progress:
            log.info("%s %s: %.2f%% (%d/%d protocols)", embedder.name, protocol.name,
                     100 * results[protocol.name]["accuracy"], done, len(protocols))
    return results, scores


class VerificationEvaluator:
    """Periodic evaluation for training: images decoded once, then one call per checkpoint.

    ``evaluator(model)`` (a keras.Model with ``.preprocessing``, or any Embedder)
    returns flat scalars ``{"<prefix>/acc_hr": ..., "<prefix>/acc_cr_16": ...}``.
    Use ``pairs_file="pairsDevTest.txt"`` (View 1) for model selection while
    training; View 2 ``pairs.txt`` is for reporting.
    """

    def __init__(
        self,
        data_dir: str,
        pairs_file: str = "pairs.txt",
        sizes: Sequence[int] = (16, 8),
        modes: Sequence[str] = ("cr",),
        degradation: Optional[ResolutionDegradation] = None,
        images_subdir: str = "aligned112",
        prefix: str = "lfw",
        progress: bool = False,
    ):
        self.data = PairsData(data_dir, pairs_file, images_subdir)
        self.protocols = [P.hr_protocol(self.data.num_pairs)] + P.sweep(self.data.num_pairs, list(sizes), modes)
        self.degradation = degradation or ResolutionDegradation()
        self.prefix = prefix
        self.progress = progress
        self.data.image_set.images(progress)

    def __call__(self, model, preprocessing=None, flip=None) -> Dict[str, float]:
        embedder = load_embedder(model, preprocessing=preprocessing, flip=flip)
        results, _ = evaluate_verification(embedder, self.data, self.protocols, self.degradation, EmbeddingCache(), self.progress)
        return {f"{self.prefix}/acc_{name}": r["accuracy"] for name, r in results.items()}


def lfw_cr_accuracy(model, data_dir: str, pairs_file: str = "pairs.txt", sizes: Sequence[int] = (16, 8), modes=("cr",), **kw) -> Dict[str, float]:
    """One-off accuracy at full resolution and CR (and/or ER) ``sizes``: ``{"lfw/acc_hr": ..., "lfw/acc_cr_8": ...}``."""
    return VerificationEvaluator(data_dir, pairs_file, sizes, modes, **kw)(model)
