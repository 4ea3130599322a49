"""benchmarks/train_levers.py: the summary's ratios are each lever's step rate over base's, read from the
per-lever train_throughput JSONs; an unknown lever is a usage error."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import train_levers  # noqa: E402


def _doc(step, fit):
    return {"meta": {"argv": [], "started_utc": "t", "loadavg_start": [0.1, 0.1, 0.1]}, "conv1x1": {"gflops_per_s_median": 200.0},
            "setups": {"distill": {"step": {"images_per_s": step, "cpu_s_per_image": 2.0 / step, "gflops_per_s": 1.0},
                                   "fit": {"images_per_s": fit}}}}


def test_summary_ratios_against_base(tmp_path):
    for name, step in (("base", 20.0), ("relu", 35.0), ("bf16", 15.0)):
        (tmp_path / f"{name}.json").write_text(json.dumps(_doc(step, step + 1)))
    out = tmp_path / "summary.json"
    assert train_levers.main(["--summarize_only", f"--out_dir={tmp_path}", f"--out={out}"]) == 0
    rows = json.loads(out.read_text())["levers"]
    assert set(rows) == {"base", "relu", "bf16"}
    assert rows["relu"]["step_vs_base"] == pytest.approx(1.75) and rows["bf16"]["step_vs_base"] == pytest.approx(0.75)
    assert rows["base"]["fit_images_per_s"] == 21.0 and out.with_suffix(".png").is_file()


def test_unknown_lever_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as e:
        train_levers.main(["--levers=base,turbo", f"--out_dir={tmp_path}"])
    assert e.value.code == 2
