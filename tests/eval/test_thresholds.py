"""Per-resolution thresholds (lrfr_tf.eval.thresholds, python -m lrfr_tf.calibrate): each figure against a
pair-by-pair NumPy recomputation, View 2 refused, and the rows accepted by the export metadata parser."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from lrfr_tf.eval import thresholds as T
from lrfr_tf.eval.verification import tar_at_far
from lrfr_tf.model_metadata import parse_thresholds

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE_LFW = REPO / "lrfr_tf" / "data" / "sample" / "lfw"
BUCKETS = (T.SizeBucket(6, 10, (6, 8)), T.SizeBucket(10, None, (16, 112)))


@pytest.mark.parametrize("n,far", [(1, 0.5), (10, 0.0), (10, 0.1), (997, 1e-2), (3000, 1e-3), (50, 1.0)])
def test_impostor_threshold_is_tar_at_far_rule(n, far):
    rng = np.random.default_rng(n)
    neg = rng.normal(size=n).round(2)  # ties included
    pos = rng.normal(1.0, 1.0, size=20)
    scores = np.r_[pos, neg]
    labels = np.r_[np.ones(20, bool), np.zeros(n, bool)]
    t = T.impostor_threshold(neg, far)
    assert t == tar_at_far(scores, labels, far)[1]
    assert np.mean(neg > t) <= far + 1e-12


@pytest.fixture(scope="module")
def lfw_view1(tmp_path_factory):
    """An LFW-format folder whose View 1 file is the sample's pairs and whose View 2 is its first 40 pairs."""
    root = tmp_path_factory.mktemp("lfw")
    os.symlink(SAMPLE_LFW / "aligned112", root / "aligned112")
    shutil.copy(SAMPLE_LFW / "pairs.txt", root / "pairsDevTrain.txt")
    lines = (SAMPLE_LFW / "pairs.txt").read_text().splitlines()
    (root / "pairs.txt").write_text("1\t20\n" + "\n".join(lines[1:21] + lines[51:71]) + "\n")
    return root


@pytest.fixture(scope="module")
def embedder():
    from tests.export.conftest import small_model

    from lrfr_tf.eval.embedders import load_embedder

    model = small_model()
    model(np.zeros((1, 112, 112, 3), np.float32))  # built: its weight hash (the cache key) is final
    return load_embedder(model, name="small")


def _reference(embedder, images, size, identities):
    """Genuine and impostor cosines, pair by pair, from embeddings of the degraded images."""
    from lrfr_tf.eval.degradation import ResolutionDegradation

    pixels = images.image_set.images(progress=False)
    probe = embedder.embed(ResolutionDegradation()(pixels, size))
    gallery = embedder.embed(pixels)
    genuine, impostor = [], []
    for i in range(len(probe)):
        for j in range(len(gallery)):
            if i == j:
                continue
            (genuine if identities[i] == identities[j] else impostor).append(float(probe[i] @ gallery[j]))
    return np.array(genuine), np.array(impostor)


def test_calibrate_matches_pairwise_numpy(lfw_view1, embedder):
    images = T.LabelledImages(str(lfw_view1), ["pairsDevTrain.txt"])
    names = [p.split("/")[0] for p in images.image_set.paths]
    assert len(set(names)) == images.describe()["num_identities"]
    result = T.calibrate(embedder, images, BUCKETS, fars=(0.1, 0.01), abstain_below_tar=0.5, progress=False)
    hr_genuine, hr_impostor = _reference(embedder, images, 112, names)
    for far in (0.1, 0.01):
        ref = np.sort(hr_impostor)[::-1][int(np.floor(far * hr_impostor.size))]
        assert result["global"][str(far)]["threshold"] == pytest.approx(ref, abs=1e-5)
    for bucket, row in zip(BUCKETS, result["buckets"]):
        pairs = [_reference(embedder, images, s, names) for s in bucket.sizes]
        genuine = np.concatenate([g for g, _ in pairs])
        impostor = np.concatenate([i for _, i in pairs])
        assert row["num_impostor"] == impostor.size and row["num_genuine"] == genuine.size
        for far in (0.1, 0.01):
            at = row["by_far"][str(far)]
            ref = np.sort(impostor)[::-1][int(np.floor(far * impostor.size))]
            assert at["threshold"] == pytest.approx(ref, abs=1e-5)
            assert at["tar"] == pytest.approx(np.mean(genuine > ref), abs=2 / genuine.size)
            assert at["abstain"] == (at["tar"] < 0.5)
            g = result["global"][str(far)]["threshold"]
            assert at["global_far"] == pytest.approx(np.mean(impostor > g), abs=2 / impostor.size)
    rows = T.metadata_rows(result, 0.01)
    buckets = parse_thresholds(rows)
    assert [b.min_px for b in buckets] == [6, 10] and buckets[-1].max_px is None
    for b, row in zip(buckets, result["buckets"]):
        at = row["by_far"]["0.01"]
        assert (b.threshold is None) == at["abstain"]
        if b.threshold is not None:
            assert b.threshold == pytest.approx(at["threshold"], abs=1e-6)
    with pytest.raises(ValueError, match="not calibrated"):
        T.metadata_rows(result, 0.05)


def test_evaluate_thresholds_counts_view2_pairs(lfw_view1, embedder):
    from lrfr_tf.eval.degradation import ResolutionDegradation
    from lrfr_tf.eval.lfw import PairsData

    images = T.LabelledImages(str(lfw_view1), ["pairsDevTrain.txt"])
    calibration = T.calibrate(embedder, images, BUCKETS, fars=(0.1,), abstain_below_tar=0.0, progress=False)
    test = PairsData(str(lfw_view1), "pairs.txt")
    checked = T.evaluate_thresholds(embedder, test, calibration, progress=False)
    pixels = test.image_set.images(progress=False)
    hr = embedder.embed(pixels)
    for bucket, row, cal in zip(BUCKETS, checked, calibration["buckets"]):
        scores, labels = [], []
        for s in bucket.sizes:
            low = embedder.embed(ResolutionDegradation()(pixels, s))
            scores += [np.sum(low[test.idx1] * hr[test.idx2], 1), np.sum(hr[test.idx1] * low[test.idx2], 1)]
            labels += [test.labels, test.labels]
        scores, labels = np.concatenate(scores), np.concatenate(labels)
        assert row["num_negative"] == (~labels).sum() == 40 * len(bucket.sizes)
        at = row["by_far"]["0.1"]
        t_cal, t_glob = cal["by_far"]["0.1"]["threshold"], calibration["global"]["0.1"]["threshold"]
        assert at["calibrated"]["far"] == pytest.approx(np.mean(scores[~labels] > t_cal), abs=1.5 / (~labels).sum())
        assert at["calibrated"]["tar"] == pytest.approx(np.mean(scores[labels] > t_cal), abs=1.5 / labels.sum())
        assert at["global"]["far"] == pytest.approx(np.mean(scores[~labels] > t_glob), abs=1.5 / (~labels).sum())
        assert at["oracle_tar"] == pytest.approx(tar_at_far(scores, labels, 0.1)[0], abs=1.5 / labels.sum())
    text = T.markdown(calibration, checked)
    assert "abstain" not in text and "| 6-9px |" in text


def test_view2_is_refused_for_calibration(lfw_view1):
    with pytest.raises(ValueError, match="LFW View 2, test data"):
        T.LabelledImages(str(lfw_view1), ["pairs.txt"])
    with pytest.raises(FileNotFoundError, match="pairsDevTest.txt"):
        T.LabelledImages(str(lfw_view1), ["pairsDevTrain.txt", "pairsDevTest.txt"])


def _cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "lrfr_tf.calibrate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("flag,message", [
    ("--far=0.01,abc", "--far: expected rates"),
    ("--metadata_far=0.05", "--metadata_far=0.05 is not one of --far"),
    ("--calibration_pairs=pairs.txt", "LFW View 2, test data"),
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, lfw_view1, small_keras_path, flag, message):
    out = tmp_path / "out"
    r = _cli(f"--model={small_keras_path}", f"--data={lfw_view1}", f"--out={out}", flag)
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert lines[-1].startswith("error: ") and message in lines[-1] and "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def small_keras_path(tmp_path_factory):
    from tests.export.conftest import small_model

    path = tmp_path_factory.mktemp("model") / "small.keras"
    model = small_model()
    model(np.zeros((1, 112, 112, 3), np.float32))
    model.save(path)
    return path


@pytest.mark.slow
def test_cli_writes_thresholds_the_exporter_reads(tmp_path, lfw_view1, small_keras_path):
    out = tmp_path / "calib"
    r = _cli(f"--model={small_keras_path}", f"--data={lfw_view1}", f"--out={out}", "--calibration_pairs=pairsDevTrain.txt",
             "--far=0.1,0.01", "--metadata_far=0.1", "--noprogress")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads((out / "thresholds.json").read_text())
    doc = json.loads((out / "calibration.json").read_text())
    assert rows == doc["thresholds"] and [r["far"] for r in rows] == [0.1] * len(T.DEFAULT_BUCKETS)
    assert len(doc["test"]) == len(T.DEFAULT_BUCKETS) and (out / "calibration.png").stat().st_size > 0
    from lrfr_tf.export.__main__ import read_thresholds

    assert read_thresholds(str(out / "thresholds.json")) == rows
    assert read_thresholds(str(out / "calibration.json")) == rows
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"min_px": 8, "max_px": 4, "threshold": 0.3, "far": 0.001}]))
    with pytest.raises(ValueError, match="bad.json"):
        read_thresholds(str(bad))


def test_single_set_pairs_file_gets_interleaved_folds(tmp_path):
    """LFW View 1 (one set, header '<n>') is split into 10 interleaved folds, each with its share of both labels;
    a multi-fold file keeps its folds. Regression: the distill recipe's View 1 evaluation raised 'needs 2 folds'."""
    from lrfr_tf.eval.lfw import PairsData, interleaved_folds

    lines = (SAMPLE_LFW / "pairs.txt").read_text().splitlines()
    same, different = lines[1:51] + lines[101:151], lines[51:101] + lines[151:201]
    os.symlink(SAMPLE_LFW / "aligned112", tmp_path / "aligned112")
    (tmp_path / "pairsDevTest.txt").write_text("100\n" + "\n".join(same + different) + "\n")
    one = PairsData(str(tmp_path), "pairsDevTest.txt")
    assert not one.folds_from_file and np.unique(one.folds).tolist() == list(range(10))
    for f in range(10):
        assert one.labels[one.folds == f].sum() == 10 and (~one.labels[one.folds == f]).sum() == 10
    labels = np.array([True] * 3 + [False] * 5)
    assert interleaved_folds(labels, 2).tolist() == [0, 1, 0, 0, 1, 0, 1, 0]
    two = PairsData(str(SAMPLE_LFW), "pairs.txt")
    assert two.folds_from_file and np.unique(two.folds).tolist() == [0, 1]
