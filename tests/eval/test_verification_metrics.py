"""Verification metrics against hand-computed examples and brute force."""

import numpy as np
import pytest

from lrfr_tf.eval import verification as V


def test_best_threshold_hand_example():
    # Sorted: 0.1 neg, 0.35 pos, 0.4 neg, 0.8 pos. Rejecting {0.1} or {0.1, 0.35, 0.4} both give 3/4;
    # the highest such threshold is the midpoint of 0.4 and 0.8.
    t, acc = V.best_threshold([0.1, 0.4, 0.35, 0.8], [False, False, True, True])
    assert acc == 0.75
    assert t == pytest.approx(0.6)


def test_best_threshold_separable_and_ties():
    t, acc = V.best_threshold([0.2, 0.2, 0.9, 0.9], [False, False, True, True])
    assert acc == 1.0 and t == pytest.approx(0.55)
    # All scores equal: either accept all or reject all; the highest threshold rejects all.
    t, acc = V.best_threshold([0.5, 0.5, 0.5], [True, False, False])
    assert acc == pytest.approx(2 / 3) and t > 0.5


def test_kfold_accuracy_hand_example():
    # Fold 0 is separable (best threshold 0.6); fold 1 has ties at 3/4 (thresholds 0.2 and 0.5 -> 0.5).
    scores = [0.9, 0.7, 0.5, 0.2, 0.6, 0.3, 0.4, 0.1]
    labels = [1, 1, 0, 0, 1, 1, 0, 0]
    folds = [0, 0, 0, 0, 1, 1, 1, 1]
    r = V.kfold_accuracy(scores, labels, folds)
    assert r["thresholds"] == pytest.approx([0.5, 0.6])  # fold 0 tested with fold 1's threshold and vice versa
    assert r["fold_accuracies"] == pytest.approx([1.0, 0.5])  # 0.6 is not > 0.6: the positive at 0.6 is missed
    assert r["accuracy"] == pytest.approx(0.75) and r["std"] == pytest.approx(0.25)


def test_kfold_matches_brute_force_threshold_search():
    rng = np.random.default_rng(0)
    labels = np.tile(np.r_[np.ones(30, bool), np.zeros(30, bool)], 5)
    scores = np.round(np.where(labels, rng.normal(0.5, 0.2, labels.size), rng.normal(0.1, 0.2, labels.size)), 2)
    folds = np.repeat(np.arange(5), 60)
    r = V.kfold_accuracy(scores, labels, folds)
    for f in range(5):
        tr, te = folds != f, folds == f
        candidates = np.r_[np.unique(scores[tr]) - 1e-9, scores[tr].max() + 1]
        best = max(np.mean((scores[tr] > c) == labels[tr]) for c in candidates)
        assert np.mean((scores[tr] > r["thresholds"][f]) == labels[tr]) == pytest.approx(best)
        assert r["fold_accuracies"][f] == pytest.approx(np.mean((scores[te] > r["thresholds"][f]) == labels[te]))


def _brute_tar_at_far(scores, labels, far):
    neg, pos = scores[~labels], scores[labels]
    best = 0.0
    for t in np.r_[-np.inf, np.unique(scores)]:
        if np.sum(neg > t) <= far * neg.size + 1e-9:
            best = max(best, np.mean(pos > t))
    return best


@pytest.mark.parametrize("far", [0.0, 1e-3, 1e-2, 0.05, 0.1, 0.5, 1.0])
def test_tar_at_far_matches_brute_force(far):
    rng = np.random.default_rng(1)
    labels = np.r_[np.ones(400, bool), np.zeros(3000, bool)]
    scores = np.round(np.where(labels, rng.normal(0.6, 0.2, labels.size), rng.normal(0.0, 0.2, labels.size)), 2)  # ties
    tar, t = V.tar_at_far(scores, labels, far)
    assert tar == pytest.approx(_brute_tar_at_far(scores, labels, far))
    assert np.sum(scores[~labels] > t) <= far * 3000 + 1e-9


def test_roc_auc_eer():
    rng = np.random.default_rng(2)
    labels = rng.random(500) < 0.3
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)
    far, tar, thr = V.roc_curve(scores, labels)
    assert (far[0], tar[0], far[-1], tar[-1]) == (0, 0, 1, 1)
    for f, t, th in zip(far, tar, thr):  # every ROC point is what its threshold gives
        assert f == pytest.approx(np.mean(scores[~labels] > th)) and t == pytest.approx(np.mean(scores[labels] > th))
    pos, neg = scores[labels], scores[~labels]
    mann_whitney = np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))
    assert V.auc(scores, labels) == pytest.approx(mann_whitney)
    # EER lies on the ROC segment where FAR crosses 1 - TAR.
    e = V.eer(scores, labels)
    i = int(np.argmax(far - (1 - tar) >= 0))
    assert min(far[i - 1], 1 - tar[i - 1]) <= e <= max(far[i], 1 - tar[i])
    assert V.eer([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]) == 0.0
    assert V.eer([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0]) == 1.0


def test_random_scores_give_chance_accuracy():
    rng = np.random.default_rng(3)
    labels = np.tile(np.r_[np.ones(300, bool), np.zeros(300, bool)], 10)
    r = V.kfold_accuracy(rng.normal(size=6000), labels, np.repeat(np.arange(10), 600))
    assert abs(r["accuracy"] - 0.5) < 0.03


def test_bad_scores_rejected():
    with pytest.raises(ValueError, match="not finite"):
        V.best_threshold([0.1, np.nan], [True, False])
    with pytest.raises(ValueError, match="scores but"):
        V.kfold_accuracy([0.1, 0.2], [True, False], [0])
    with pytest.raises(ValueError, match="positive and negative"):
        V.tar_at_far([0.1, 0.2], [True, True], 0.1)


def test_kfold_correct_gives_the_fold_accuracies():
    rng = np.random.default_rng(3)
    labels = rng.random(600) < 0.5
    scores = rng.normal(size=600) + labels
    folds = np.repeat(np.arange(10), 60)
    correct, _, thresholds = V.kfold_correct(scores, labels, folds)
    r = V.kfold_accuracy(scores, labels, folds)
    np.testing.assert_allclose([correct[folds == f].mean() for f in range(10)], r["fold_accuracies"])
    assert thresholds == r["thresholds"]
    np.testing.assert_array_equal(correct[:60], (scores[:60] > thresholds[0]) == labels[:60])


def test_kfold_correct_at_given_thresholds():
    """Decisions at another model's fold thresholds: (score > t_fold) == label, the thresholds returned as given."""
    rng = np.random.default_rng(4)
    labels = rng.random(200) < 0.5
    scores = rng.normal(size=200) + labels
    folds = np.repeat(np.arange(2), 100)
    correct, _, thresholds = V.kfold_correct(scores, labels, folds, [0.1, 0.9])
    assert thresholds == [0.1, 0.9]
    expected = np.r_[(scores[:100] > 0.1) == labels[:100], (scores[100:] > 0.9) == labels[100:]]
    np.testing.assert_array_equal(correct, expected)
    with pytest.raises(ValueError, match="1 thresholds for 2 folds"):
        V.kfold_correct(scores, labels, folds, [0.1])


@pytest.mark.parametrize("n_a, n_b", [(0, 0), (3, 0), (5, 5), (30, 12), (400, 330), (1, 9)])
def test_paired_sign_test_is_exact_mcnemar(n_a, n_b):
    from scipy.stats import binomtest

    same = np.ones(50, bool)
    a = np.r_[np.ones(n_a), np.zeros(n_b), same]
    b = np.r_[np.zeros(n_a), np.ones(n_b), same]
    t = V.paired_sign_test(a, b)
    assert (t["a_better"], t["b_better"]) == (n_a, n_b)
    expected = 1.0 if n_a + n_b == 0 else binomtest(n_a, n_a + n_b, 0.5).pvalue
    assert t["p_value"] == pytest.approx(expected, rel=1e-9)


def test_paired_sign_test_counts_half_decisions_and_rejects_other_pairs():
    t = V.paired_sign_test([1.0, 0.5, 1.0, 0.0], [0.5, 0.5, 0.0, 0.0])  # flips averaged: 0.5 differs too
    assert (t["a_better"], t["b_better"]) == (2, 0)
    with pytest.raises(ValueError, match="same pairs"):
        V.paired_sign_test([1, 0], [1])
