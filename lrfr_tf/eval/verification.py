"""Face verification metrics on similarity scores (NumPy only).

Conventions used by every function here:

* A score is a cosine similarity; a pair is predicted "same person" iff its
  score is strictly greater than the threshold.
* FAR(t) = #{negative pairs with score > t} / #negatives (false accept rate),
  TAR(t) = #{positive pairs with score > t} / #positives (true accept rate).
* LFW accuracy is the 10-fold protocol of Huang et al. (2007), View 2: for each
  fold the threshold maximising accuracy on the other nine folds is applied to
  the held-out fold; accuracy is the mean (and population std, ``ddof=0``, as in
  the common insightface/facenet evaluation code) of the ten fold accuracies.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

#: FAR operating points reported by default.
FAR_TARGETS = (1e-1, 1e-2, 1e-3)


def _as_scores_labels(scores, labels) -> Tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1).astype(bool)
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.size} scores but {labels.size} labels")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{int(np.sum(~np.isfinite(scores)))} of {scores.size} similarity scores are not finite")
    return scores, labels


def best_threshold(scores, labels) -> Tuple[float, float]:
    """Threshold maximising accuracy of ``score > t`` on (scores, labels), exactly.

    Every distinct decision is tried: thresholds at the midpoints between
    consecutive distinct scores, plus one below the lowest and one above the
    highest score. Among thresholds of equal accuracy the highest (strictest)
    is returned, which is what the insightface/facenet code's ``argmax`` over an
    ascending distance grid picks. Returns (threshold, accuracy).
    """
    scores, labels = _as_scores_labels(scores, labels)
    if scores.size == 0:
        raise ValueError("best_threshold needs at least one score")
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], labels[order]
    distinct = np.r_[np.nonzero(np.diff(s) > 0)[0], s.size - 1]  # last index of each run of equal scores
    # Threshold just above run end k: pairs 0..k rejected, the rest accepted.
    neg_rejected = np.cumsum(~y)[distinct]
    pos_accepted = np.count_nonzero(y) - np.cumsum(y)[distinct]
    correct = np.r_[np.count_nonzero(y), neg_rejected + pos_accepted]  # first entry: threshold below all scores
    uniq = s[distinct]
    thresholds = np.r_[uniq[0] - 1.0, (uniq[:-1] + uniq[1:]) / 2.0, uniq[-1] + 1.0]
    best = int(np.flatnonzero(correct == correct.max())[-1])
    return float(thresholds[best]), float(correct[best] / s.size)


def accuracy_at(scores, labels, threshold: float) -> float:
    scores, labels = _as_scores_labels(scores, labels)
    return float(np.mean((scores > threshold) == labels))


def kfold_accuracy(scores, labels, folds) -> Dict[str, object]:
    """LFW protocol accuracy: per fold, threshold from the other folds (see module doc).

    ``folds``: fold id per pair (e.g. ``Pair.fold`` from pairs.txt). Returns
    ``accuracy`` (mean), ``std``, ``fold_accuracies`` and ``thresholds`` (the
    threshold chosen on the other folds and applied to each fold).
    """
    correct, folds, thresholds = kfold_correct(scores, labels, folds)
    accs = np.asarray([np.mean(correct[folds == f]) for f in np.unique(folds)])
    return {
        "accuracy": float(accs.mean()),
        "std": float(accs.std()),
        "fold_accuracies": accs.tolist(),
        "thresholds": thresholds,
    }


def kfold_correct(scores, labels, folds, thresholds: Optional[Sequence[float]] = None
                  ) -> Tuple[np.ndarray, np.ndarray, list]:
    """Per-pair decisions of the k-fold protocol: (correct [pairs] bool, folds, threshold per fold id).
    ``thresholds`` (one per fold id, sorted ids): decide each fold at these (e.g. another model's k-fold
    thresholds) instead of the best threshold of the other folds."""
    scores, labels = _as_scores_labels(scores, labels)
    folds = np.asarray(folds).reshape(-1)
    if folds.shape != scores.shape:
        raise ValueError(f"{scores.size} scores but {folds.size} fold ids")
    fold_ids = np.unique(folds)
    if fold_ids.size < 2:
        raise ValueError(f"k-fold accuracy needs at least 2 folds, got {fold_ids.size}")
    if thresholds is not None and len(thresholds) != fold_ids.size:
        raise ValueError(f"{len(thresholds)} thresholds for {fold_ids.size} folds")
    given, thresholds = thresholds, []
    correct = np.zeros(scores.shape, bool)
    for k, f in enumerate(fold_ids):
        test = folds == f
        t = float(given[k]) if given is not None else best_threshold(scores[~test], labels[~test])[0]
        thresholds.append(t)
        correct[test] = (scores[test] > t) == labels[test]
    return correct, folds, thresholds


def paired_sign_test(correct_a, correct_b) -> Dict[str, float]:
    """Do two models decide the same pairs differently more often one way than the other?

    ``correct_a``, ``correct_b``: per-pair correctness in [0, 1] (e.g. ``kfold_correct(...)[0]``, or
    its mean over a protocol's flips). Pairs where the two differ are discordant; under "same accuracy" each
    is as likely to favour either model, so the count favouring ``a`` is Binomial(discordant, 1/2) (the
    exact McNemar test). Returns ``a_better`` and ``b_better`` (discordant pairs each way) and the exact
    two-sided ``p_value`` (1.0 with no discordant pair).
    """
    a = np.asarray(correct_a, np.float64).reshape(-1)
    b = np.asarray(correct_b, np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"{a.size} and {b.size} pairs: a paired test needs the same pairs")
    diff = a - b
    n_a, n_b = int(np.count_nonzero(diff > 0)), int(np.count_nonzero(diff < 0))
    n = n_a + n_b
    if n == 0:
        return {"a_better": 0, "b_better": 0, "p_value": 1.0}
    k = min(n_a, n_b)
    # P(X <= k) for X ~ Binomial(n, 1/2), in log space so that n in the thousands does not underflow
    log_pmf = np.array([_log_comb(n, i) for i in range(k + 1)]) - n * np.log(2.0)
    tail = float(np.exp(np.logaddexp.reduce(log_pmf)))
    return {"a_better": n_a, "b_better": n_b, "p_value": min(1.0, 2.0 * tail)}


def _log_comb(n: int, k: int) -> float:
    from math import lgamma

    return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)


def roc_curve(scores, labels) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ROC: (far, tar, thresholds) for ``score > t`` at every distinct t.

    Starts at (0, 0) (threshold = max score) and ends at (1, 1) (threshold
    below every score, reported as -inf).
    """
    scores, labels = _as_scores_labels(scores, labels)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"an ROC needs positive and negative pairs, got {n_pos} and {n_neg}")
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    last = np.r_[np.nonzero(np.diff(s) < 0)[0], s.size - 1]  # end of each run of equal scores (descending)
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    far = np.r_[0.0, fp / n_neg]
    tar = np.r_[0.0, tp / n_pos]
    # After accepting the run ending at `last`, the next threshold is that run's score; before any: max score.
    thresholds = np.r_[s[0], s[last][1:], -np.inf]
    return far, tar, thresholds


def auc(scores, labels) -> float:
    """Area under the ROC (trapezoids on the exact ROC; ties count one half)."""
    far, tar, _ = roc_curve(scores, labels)
    return float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2.0))


def eer(scores, labels) -> float:
    """Equal error rate: where FAR = 1 - TAR on the linearly interpolated ROC."""
    far, tar, _ = roc_curve(scores, labels)
    gap = far - (1.0 - tar)  # rises from -1 at (0, 0) to +1 at (1, 1)
    i = int(np.argmax(gap >= 0))
    if gap[i] == 0:
        return float(far[i])
    w = -gap[i - 1] / (gap[i] - gap[i - 1])
    return float(far[i - 1] + w * (far[i] - far[i - 1]))


def tar_at_far(scores, labels, far: float) -> Tuple[float, float]:
    """Highest TAR whose FAR <= ``far``; returns (tar, threshold).

    With negatives sorted in descending order n_1 >= n_2 >= ..., at most
    m = floor(far * #negatives) false accepts are allowed, so the threshold is
    n_{m+1} (accept ``score > n_{m+1}``), or -inf when m >= #negatives.
    """
    scores, labels = _as_scores_labels(scores, labels)
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"far must be in [0, 1], got {far}")
    neg = np.sort(scores[~labels])[::-1]
    pos = scores[labels]
    if neg.size == 0 or pos.size == 0:
        raise ValueError(f"TAR@FAR needs positive and negative pairs, got {pos.size} and {neg.size}")
    m = int(np.floor(far * neg.size + 1e-9))  # tolerance: 1e-3 * 3000 is 2.9999999999999996 in floating point
    threshold = -np.inf if m >= neg.size else float(neg[m])
    return float(np.mean(pos > threshold)), threshold


def roc_summary(scores, labels, far_grid: Sequence[float] | None = None) -> Dict[str, object]:
    """AUC, EER, TAR at ``FAR_TARGETS`` and a compact ROC (TAR on a log FAR grid) for reports."""
    scores, labels = _as_scores_labels(scores, labels)
    n_neg = int((~labels).sum())
    if far_grid is None:
        lo = max(1.0 / max(n_neg, 1), 1e-6)
        far_grid = np.unique(np.r_[np.logspace(np.log10(lo), 0, 41), FAR_TARGETS])
    return {
        "auc": auc(scores, labels),
        "eer": eer(scores, labels),
        "tar_at_far": {f"{f:g}": tar_at_far(scores, labels, f)[0] for f in FAR_TARGETS},
        "roc": {"far": [float(f) for f in far_grid], "tar": [tar_at_far(scores, labels, f)[0] for f in far_grid]},
    }
