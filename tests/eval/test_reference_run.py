"""Reproduce the committed reference run (results/reference) of the pretrained MobileFaceNet on LFW.

Slow (about 2-3 min on 2 idle cores): full resolution, CR/ER at 5 px and the low_res protocol on all
6,000 pairs; the committed run has every size and all four published protocols.
"""

import pathlib
import time

import pytest

from lrfr_tf.eval import reports
from lrfr_tf.eval.embedders import load_embedder
from lrfr_tf.eval.lfw import PairsData
from lrfr_tf.eval.runner import evaluate_models, parse_protocols
from lrfr_tf.eval.protocols import DEFAULT_SIZES

REFERENCE = pathlib.Path(__file__).resolve().parents[2] / "results" / "reference" / "report.json"

# Independent check (shared/README.md and the issue): 99.05% at 112 px, about 52% CR and 67% ER at 5 px.
INDEPENDENT = {"hr": (0.9905, 0.003), "cr_5": (0.52, 0.02), "er_5": (0.67, 0.02)}


def test_committed_reference_is_complete():
    report = reports.read_json(str(REFERENCE))
    (model,) = report["models"]
    assert model["model"]["model_sha256"] == "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b"
    v = model["verification"]
    assert {f"{k}_{s}" for k in ("cr", "er") for s in DEFAULT_SIZES} | {"hr", "low_res", "mid_res", "high_res", "all_res"} <= set(v)
    assert report["settings"]["verification"]["data"]["num_pairs"] == 6000
    for name, (value, tol) in INDEPENDENT.items():
        assert abs(v[name]["accuracy"] - value) <= tol, (name, v[name]["accuracy"])


@pytest.mark.slow
def test_reference_run_reproduces(lfw_dir, mobilefacenet_tflite, tmp_path):
    committed = reports.read_json(str(REFERENCE))["models"][0]["verification"]
    start = time.time()
    data = PairsData(str(lfw_dir))
    protocols = parse_protocols(["cr", "er", "low_res_focus"], data.num_pairs, [5], str(lfw_dir / "protocols"))
    embedder = load_embedder(str(mobilefacenet_tflite), preprocessing="arcface")
    report = evaluate_models([embedder], str(tmp_path), data, protocols, progress=False)
    v = report["models"][0]["verification"]
    print(f"reference subset run: {time.time() - start:.0f} s")
    assert report["settings"]["verification"]["data"]["images_sha256"] == reports.read_json(str(REFERENCE))["settings"]["verification"]["data"]["images_sha256"]
    for name in ("hr", "cr_5", "er_5", "low_res"):
        assert abs(v[name]["accuracy"] - committed[name]["accuracy"]) <= 0.0005, (name, v[name]["accuracy"], committed[name]["accuracy"])
    for name, (value, tol) in INDEPENDENT.items():
        assert abs(v[name]["accuracy"] - value) <= tol, (name, v[name]["accuracy"])
