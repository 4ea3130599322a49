"""``parity.check``: the limits of GATES, and accuracy limits never finer than one pair of the gate set."""

import numpy as np
import pytest

from lrfr_tf.export import parity

GOOD = {"mean": 1.0, "min": 0.999999, "p1": 1.0}


def _check(fmt, acc_delta_pt, num_pairs, cos=GOOD):
    source = {"hr": 0.9, "cr_8": 0.6}
    acc = {"hr": 0.9 + acc_delta_pt / 100, "cr_8": 0.6}
    return parity.check(fmt, {112: dict(cos), 8: dict(cos)}, acc, source, "cr_8", num_pairs)


@pytest.mark.parametrize("fmt, delta, pairs, fails", [
    ("tflite_int8", 0.5, 200, False),    # one of 200 pairs: the finest the packaged sample shows
    ("tflite_int8", 1.0, 200, True),     # two pairs
    ("tflite_int8", 0.5, 6000, True),    # 30 of LFW's 6,000 pairs: over the 0.3 limit as written
    ("tflite_int8", 0.25, 6000, False),
    ("tflite_fp32", 0.0334, 6000, False),  # two LFW pairs, within 0.05
    ("tflite_fp32", 0.1, 6000, True),
    ("tflite_fp32", 0.1, None, True),    # unknown pair count: the limits as written
])
def test_accuracy_limit_floor_is_one_pair(fmt, delta, pairs, fails):
    failures = _check(fmt, delta, pairs)
    assert bool(failures) is fails, failures
    if fails:
        assert failures[0].startswith("hr: accuracy")


def test_cosine_limits():
    assert parity.pair_resolution(200) == 0.5 and parity.pair_resolution(None) == 0.0
    assert _check("tflite_fp16", 0, 6000, {"mean": 1.0, "min": 0.99995, "p1": 1.0}) == []
    (failure, _) = _check("tflite_fp32", 0, 6000, {"mean": 1.0, "min": 0.99995, "p1": 1.0})
    assert failure == "112 px: min cosine 0.999950 < 0.99999"
    int8 = _check("tflite_int8", 0, 6000, {"mean": 0.97, "min": 0.5, "p1": 0.96})
    assert int8 == ["112 px: mean cosine 0.9700 < 0.98", "8 px: mean cosine 0.9700 < 0.98"]
    assert len(_check("tflite_int8", 0, 6000, {"mean": 0.99, "min": 0.5, "p1": 0.94})) == 2  # p1 at both sizes


def test_run_gate_holds_each_candidate_to_its_row_and_reports_each_stage():
    """One gate for the export command and the QAT routes: the source itself passes the strictest row, a copy
    with a corrupted weight fails it, cosines land before accuracies, and the one-pair floor is applied."""
    import keras
    import numpy as np

    from tests.export.conftest import SAMPLE_LFW, small_model
    from lrfr_tf.eval.embedders import KerasEmbedder
    from lrfr_tf.export.sources import ExportSource

    model = small_model()
    model(np.zeros((1, 112, 112, 3), np.float32))
    broken = keras.models.clone_model(model)
    broken.set_weights([w * (0.0 if i == 0 else 1.0) + (np.float32(0.3) if i == 0 else 0) for i, w in
                        enumerate(model.get_weights())])
    pre = KerasEmbedder(model).preprocessing
    source = ExportSource(model, pre, "keras", "small.keras", "0" * 64, "small")
    data = parity.GateData(str(SAMPLE_LFW), num_faces=40)
    stages = []
    report = parity.run_gate(source, {
        "same": parity.Candidate(KerasEmbedder(model, pre, name="same"), "saved_model"),
        "broken": parity.Candidate(KerasEmbedder(broken, pre, name="broken"), "tflite_int8"),
    }, data, log=lambda _: None, on_stage=lambda r: stages.append(
        [r["formats"][k]["accuracy"] is not None for k in r["formats"]]))
    assert stages == [[False], [False, False], [True, False], [True, True]]
    same, bad = report["formats"]["same"], report["formats"]["broken"]
    assert same["passed"] and same["cosine"]["8"]["min"] > 0.99999 and same["accuracy"] == report["source"]["accuracy"]
    assert not bad["passed"] and any("mean cosine" in f for f in bad["failures"])
    assert same["accuracy_limit_floor_points"] == 100.0 / data.pairs.num_pairs and same["gate"] == "saved_model"
    assert not report["passed"]


def _decisions(source_better, export_better, agree=150):
    src = np.r_[np.ones(source_better), np.zeros(export_better), np.ones(agree)]
    exp = np.r_[np.zeros(source_better), np.ones(export_better), np.ones(agree)]
    return {"hr": src, "cr_8": src}, {"hr": exp, "cr_8": exp}


@pytest.mark.parametrize("source_better, export_better, fails", [
    (3, 0, False),    # 1.5 points on 200 pairs, 3 flips one way: p = 0.25, noise
    (4, 1, False),    # p = 0.375
    (10, 0, True),    # p = 0.002: systematic
])
def test_accuracy_change_fails_only_when_the_paired_sign_test_finds_it_systematic(source_better, export_better, fails):
    src_dec, exp_dec = _decisions(source_better, export_better)
    n = src_dec["hr"].size
    source = {"hr": src_dec["hr"].mean(), "cr_8": 0.6}
    acc = {"hr": exp_dec["hr"].mean(), "cr_8": 0.6}
    notes = []
    failures = parity.check("tflite_int8", {112: dict(GOOD)}, acc, source, "cr_8", n, exp_dec, src_dec, notes)
    assert bool(failures) is fails
    assert len(notes) == (0 if fails else 1)
    message = (failures or notes)[0]
    assert f"{source_better} for the source, {export_better} for the export" in message
    # without the source's decisions the limit applies as written
    assert parity.check("tflite_int8", {112: dict(GOOD)}, acc, source, "cr_8", n)


def test_gate_compares_a_model_with_a_gallery_path_through_its_exported_probe_path():
    """An SR composite is exported as its probe path; the harness would embed its 112 px faces with the recognizer
    alone (gallery_model). The gate's reference must be the probe path too, or a faithful export of it fails on
    112 px accuracy (ip_unet's smoke export: 69.0 vs 99.5)."""
    from tests.export.conftest import SAMPLE_LFW, small_model
    from lrfr_tf.eval.embedders import KerasEmbedder
    from lrfr_tf.export.sources import ExportSource

    probe, gallery = small_model(seed=0), small_model(seed=1)
    for m in (probe, gallery):
        m(np.zeros((1, 112, 112, 3), np.float32))
    probe.gallery_model = lambda: gallery  # a composite's shape: another network for undegraded faces
    pre = KerasEmbedder(probe).preprocessing
    assert KerasEmbedder(probe, pre).gallery is not None and KerasEmbedder(probe, pre, gallery_path=False).gallery is None
    source = ExportSource(probe, pre, "keras", "composite.keras", "0" * 64, "composite")
    data = parity.GateData(str(SAMPLE_LFW), num_faces=20)
    export = parity.Candidate(KerasEmbedder(probe, pre, name="export", gallery_path=False), "saved_model")
    report = parity.run_gate(source, {"saved_model": export}, data, log=lambda _: None)
    assert report["formats"]["saved_model"]["passed"], report["formats"]["saved_model"]["failures"]
    assert report["formats"]["saved_model"]["accuracy"] == report["source"]["accuracy"]
    assert report["source"]["gallery_path"].startswith("not exported")


class _ScoredPairs:
    """Gate data whose harness scores are given: ``accuracies`` sees one protocol, ``hr``."""

    def __init__(self, labels, folds):
        import types

        self.pairs = types.SimpleNamespace(labels=labels, folds=folds, num_pairs=labels.size)
        self.protocols = []


def test_gate_compares_pairs_at_the_source_thresholds(monkeypatch):
    """A near-chance model's best fold threshold jumps when a score moves by 0.01 (st_m1's smoke export: one fold's
    threshold 0.624 -> 0.688 flipped 8 positive pairs at once, 9 vs 0, p = 0.004, and its int8 export failed).
    Here one fold-0 negative moves 0.705 -> 0.715, fold 1's threshold (chosen on fold 0) drops from 0.7075 to 0.67
    and 8 fold-1 positives at 0.69, scored identically by both models, flip: the old test (each model at its own
    thresholds) found that systematic. At the source's thresholds no pair differs: passed, with a note. A broken
    export (the scores shuffled) still fails."""
    from lrfr_tf.eval import lfw
    from lrfr_tf.eval.verification import kfold_correct, paired_sign_test

    clean = ([0.9] * 40 + [0.3] * 40, [True] * 40 + [False] * 40)
    fold0 = (clean[0] + [0.62, 0.64, 0.66, 0.68, 0.705, 0.71], clean[1] + [False, True, False, True, False, True])
    fold1 = (clean[0] + [0.69 + 1e-4 * k for k in range(8)], clean[1] + [True] * 8)
    source = np.array(fold0[0] + fold1[0])
    labels = np.array(fold0[1] + fold1[1])
    folds = np.r_[np.zeros(len(fold0[0]), int), np.ones(len(fold1[0]), int)]
    export = source.copy()
    export[84] = 0.715  # the fold-0 negative at 0.705
    scores = {"source": source, "export": export, "broken": np.random.default_rng(0).permutation(source)}
    monkeypatch.setattr(lfw, "evaluate_verification", lambda emb, pairs, protos, cache=None, progress=False: (
        {"hr": {"accuracy": float(np.mean(kfold_correct(scores[emb], labels, folds)[0]))}}, {"hr": scores[emb][None]}))
    data = _ScoredPairs(labels, folds)
    src_dec, src_thr = {}, {}
    src_acc = parity.accuracies("source", data, decisions=src_dec, thresholds=src_thr)
    assert src_thr["hr"][0][1] == 0.7075

    def gate(name):
        own, at_source, notes = {}, {}, []
        acc = parity.accuracies(name, data, decisions=own)
        parity.accuracies(name, data, decisions=at_source, at_thresholds=src_thr)
        failures = parity.check("tflite_int8", {112: dict(GOOD)}, {**acc, "cr": 0}, {**src_acc, "cr": 0}, "cr",
                                labels.size, {**at_source, "cr": 0}, {**src_dec, "cr": 0}, notes)
        return failures, notes, paired_sign_test(src_dec["hr"], own["hr"]), acc

    failures, notes, own_test, acc = gate("export")
    assert 100 * abs(acc["hr"] - src_acc["hr"]) > 1.0  # 8 of 174 pairs: beyond the limit
    assert (own_test["a_better"], own_test["b_better"]) == (0, 8) and own_test["p_value"] < parity.ALPHA  # old gate
    assert failures == [] and len(notes) == 1
    assert "0 for the source, 0 for the export" in notes[0] and "not systematic" in notes[0]
    broken, _, _, _ = gate("broken")
    assert broken and "sign test p" in broken[0]
