"""Hostile-input fuzzing (bounded, reproducible): every reader either works or raises a clear
error naming the file or key (see ``targets.py``; the long campaign is benchmarks/fuzz_inputs.py)."""

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz import targets

# derandomize: the same examples on every run (CI is reproducible); no example database.
FUZZ = dict(derandomize=True, database=None, deadline=None, print_blob=True,
            suppress_health_check=list(HealthCheck))

EXAMPLES = {"image": 400, "pairs": 300, "protocol": 300, "bin": 300, "tfrecord": 40, "config": 300}


def _make(name):
    @settings(max_examples=EXAMPLES[name], **FUZZ)
    @given(targets.STRATEGIES[name])
    def test(example):
        targets.RUNNERS[name](example)

    test.__name__ = f"test_fuzz_{name}"
    return test


test_fuzz_image = _make("image")
test_fuzz_pairs = _make("pairs")
test_fuzz_protocol = _make("protocol")
test_fuzz_bin = _make("bin")
test_fuzz_tfrecord = _make("tfrecord")
test_fuzz_config = _make("config")
