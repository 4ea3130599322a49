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


def test_environment_levers_run_in_their_own_process_with_their_variables(tmp_path, monkeypatch):
    seen = {}

    def fake_run(cmd, cwd, env):
        out = Path(next(a for a in cmd if a.startswith("--out=")).split("=", 1)[1])
        lever = out.stem
        seen[lever] = {k: env.get(k) for k in ("TF_ENABLE_ONEDNN_OPTS", "DNNL_MAX_CPU_ISA", "TF_NUM_INTEROP_THREADS",
                                               "TF_NUM_INTRAOP_THREADS")}
        out.write_text(json.dumps(_doc(10.0, 11.0)))
        return type("Done", (), {"returncode": 0})()

    for k in ("TF_ENABLE_ONEDNN_OPTS", "DNNL_MAX_CPU_ISA", "TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(train_levers.subprocess, "run", fake_run)
    out = tmp_path / "summary.json"
    assert train_levers.main(["--levers=base,onednn_off,dnnl_avx2,interop1,intra1", f"--out_dir={tmp_path}",
                              f"--out={out}"]) == 0
    assert seen["base"] == dict.fromkeys(seen["base"])  # the caller's environment, nothing added
    assert seen["onednn_off"]["TF_ENABLE_ONEDNN_OPTS"] == "0" and seen["onednn_off"]["DNNL_MAX_CPU_ISA"] is None
    assert seen["dnnl_avx2"]["DNNL_MAX_CPU_ISA"] == "AVX2"
    assert seen["interop1"]["TF_NUM_INTEROP_THREADS"] == "1" and seen["interop1"]["TF_NUM_INTRAOP_THREADS"] is None
    assert seen["intra1"]["TF_NUM_INTRAOP_THREADS"] == "1"
    assert json.loads(out.read_text())["levers"]["intra1"]["env"] == {"TF_NUM_INTRAOP_THREADS": "1"}
