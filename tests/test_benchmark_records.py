"""Benchmark records carry no machine paths: the fuzz campaign writes its scratch folder as ``<scratch>``."""

import json

from hypothesis import strategies as st

from benchmarks import fuzz_inputs
from tests.fuzz import targets


def test_fuzz_failures_name_files_without_the_scratch_folder(monkeypatch):
    scratch = str(targets.tmp_dir())

    def fails(example):
        raise ValueError(f"{scratch}/fuzz.bin: truncated pickle at byte {example}")

    monkeypatch.setitem(targets.STRATEGIES, "always_fails", st.just(7))
    monkeypatch.setitem(targets.RUNNERS, "always_fails", fails)
    result = fuzz_inputs.run_target("always_fails", seconds=30, max_examples=1, round_size=1, first_seed=0)
    assert result["distinct_failures"] == 1
    assert result["failures"][0]["error"] == "ValueError: <scratch>/fuzz.bin: truncated pickle at byte 7"
    assert scratch not in json.dumps(result)
