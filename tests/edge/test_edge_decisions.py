"""Resolution-aware decisions on a hand-written threshold table."""

import json
import pathlib

import numpy as np
import pytest

from lrfr_tf.edge import decisions
from lrfr_tf.edge.alignment import TEMPLATE_112, umeyama
from lrfr_tf.edge.decisions import Bucket, decide, parse_thresholds, thresholds_from_metadata

REPO = pathlib.Path(__file__).resolve().parents[2]

TABLE = [  # as the calibration writes it into the export metadata; 8-12 px abstains, 12-20 and >= 20 decide
    {"min_px": 20, "max_px": None, "threshold": 0.30, "far": 1e-3},
    {"min_px": 8, "max_px": 12, "threshold": None, "far": None},
    {"min_px": 12, "max_px": 20, "threshold": 0.60, "far": 1e-3},
]


def test_table_rows_become_sorted_buckets():
    buckets = parse_thresholds(TABLE)
    assert [(b.min_px, b.max_px, b.threshold) for b in buckets] == [(8, 12, None), (12, 20, 0.6), (20, None, 0.3)]


@pytest.mark.parametrize("size,similarity,answer,threshold", [
    (5.0, 0.99, "too small", None),     # below every bucket
    (8.0, 0.99, "too small", None),     # bucket without a threshold: abstain
    (11.9, 0.99, "too small", None),
    (12.0, 0.59, "unknown", 0.60),      # bucket edges: min inclusive, max exclusive
    (12.0, 0.60, "alice", 0.60),
    (19.99, 0.45, "unknown", 0.60),
    (20.0, 0.45, "alice", 0.30),        # the same similarity is enough for a bigger face
    (500.0, 0.29, "unknown", 0.30),
])
def test_decision_depends_on_the_face_size(size, similarity, answer, threshold):
    decision = decide(size, "alice", similarity, parse_thresholds(TABLE))
    assert (decision.answer, decision.threshold) == (answer, threshold)
    assert decision.similarity == similarity


def test_above_the_last_bounded_bucket_its_threshold_applies_and_gaps_abstain():
    buckets = [Bucket(10, 20, 0.5), Bucket(30, 40, 0.4)]
    assert decide(100, "bob", 0.45, buckets).answer == "bob"
    assert decide(25, "bob", 0.99, buckets).answer == "too small"


def test_an_empty_gallery_answers_unknown():
    assert decide(50, None, None, decisions.DEFAULT_THRESHOLDS).answer == "unknown"


def test_metadata_thresholds_win_over_the_defaults():
    assert thresholds_from_metadata({"thresholds": TABLE})[1] == "metadata"
    assert thresholds_from_metadata({"thresholds": []}) == (list(decisions.DEFAULT_THRESHOLDS), "default")
    assert thresholds_from_metadata(None)[1] == "default"


def test_default_table_starts_deciding_at_16_px():
    assert decide(11.5, "x", 1.0, decisions.DEFAULT_THRESHOLDS).answer == "too small"
    assert decide(15.9, "x", 1.0, decisions.DEFAULT_THRESHOLDS).answer == "too small"
    assert decide(16.0, "x", 1.0, decisions.DEFAULT_THRESHOLDS).answer == "x"


def test_default_table_is_the_measured_one():
    """DEFAULT_THRESHOLDS is what benchmarks/edge_default_thresholds.py measured and committed."""
    measured = json.loads((REPO / "results" / "edge" / "default_thresholds.json").read_text())
    assert [[b.min_px, b.max_px, b.threshold] for b in decisions.DEFAULT_THRESHOLDS] == measured["table"]


@pytest.mark.parametrize("rows,match", [
    ([{"min_px": 12, "max_px": 16}], "expected"),
    ([{"min_px": "a", "max_px": 16, "threshold": 0.3}], "non-numeric"),
    ([{"min_px": 16, "max_px": 12, "threshold": 0.3}], "min_px < max_px"),
    ([{"min_px": 12, "max_px": 16, "threshold": 3}], r"\[-1, 1\]"),
    ([{"min_px": 12, "max_px": 20, "threshold": 0.3}, {"min_px": 16, "max_px": 24, "threshold": 0.3}], "overlap"),
    ([{"min_px": 12, "max_px": 16, "threshold": True}], "non-numeric"),   # float(True) would be 1.0
    ([{"min_px": "12", "max_px": 16, "threshold": 0.3}], "non-numeric"),  # a numeric string is not a number
    ([{"min_px": 12, "max_px": 16, "threshold": 0.3, "far": 2}], r"far 2.0 is not a rate"),
])
def test_malformed_tables_are_refused(rows, match):
    with pytest.raises(ValueError, match=match):
        parse_thresholds(rows)


@pytest.mark.parametrize("scale", [0.25, 1.0, 4.0])
def test_face_px_is_the_camera_size_of_the_aligned_template(scale):
    """A face whose template points span ``112 * scale`` camera pixels is a ``112 * scale`` px face (and its
    inter-ocular distance is 35.24 * scale)."""
    points = TEMPLATE_112 * scale + [17, 9]
    assert decisions.face_px(umeyama(points, TEMPLATE_112)) == pytest.approx(112 * scale)
    assert np.linalg.norm(points[1] - points[0]) == pytest.approx(35.24 * scale, rel=1e-3)
