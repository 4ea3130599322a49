"""benchmarks/equal_terms.py: paired fold differences and claim verdicts, recomputed in NumPy."""

import importlib.util
import json
import pathlib

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("equal_terms", REPO / "benchmarks" / "equal_terms.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(path, folds_by_protocol):
    verification = {p: {"accuracy": float(np.mean(f)), "std": float(np.std(f)), "fold_accuracies": list(f),
                        "tar_at_far": {"0.01": 0.25}} for p, f in folds_by_protocol.items()}
    path.write_text(json.dumps({"format": "lrfr_tf.eval.report/1", "models": [{"verification": verification}]}))
    return str(path)


def test_paired_differences_and_verdicts(tmp_path):
    bench = _load()
    rng = np.random.default_rng(0)
    base = {p: rng.uniform(0.55, 0.6, 10) for p in ("hr", "low_res", "cr_7", "cr_14")}
    bt_m = {p: v + (0.05 if p == "low_res" else 0.0) for p, v in base.items()}  # clearly better on low_res
    st_m1 = {p: v + (rng.normal(0.0, 0.01, 10) if p == "low_res" else -0.01) for p, v in base.items()}
    arms = [f"pretrained={_report(tmp_path / 'a.json', base)}", f"bt_m={_report(tmp_path / 'b.json', bt_m)}",
            f"st_m1={_report(tmp_path / 'c.json', st_m1)}"]
    out = tmp_path / "out"
    assert bench.main([f"--arm={a}" for a in arms] + [f"--out={out}"]) == 0
    result = json.loads((out / "comparison.json").read_text())
    d = 100 * (st_m1["low_res"] - base["low_res"])
    row = result["table"]["low_res"]["st_m1"]["vs_pretrained"]
    assert row["difference"] == pytest.approx(d.mean()) and row["fold_std"] == pytest.approx(d.std(ddof=1))
    verdicts = {c["id"]: c["verdict"] for c in result["claims"]}
    assert verdicts["S2a"] == "reproduced"                      # +5 points, zero spread
    assert verdicts["S2c"] == "reproduced"                      # bt_m 1 point above st_m1 at hr on every fold
    assert verdicts["S4a"] == verdicts["S4b"] == "not run"      # no MAug arms given
    expected_s2b = ("reproduced" if d.mean() > d.std(ddof=1) else "not reproduced" if d.mean() <= 0
                    else "same direction, within one fold std")
    assert verdicts["S2b"] == expected_s2b
    assert (out / "comparison.png").stat().st_size > 0 and (out / "arms" / "bt_m.json").is_file()
    assert "| low_res |" in (out / "comparison.md").read_text()


@pytest.mark.parametrize("arm, message", [("nonsense", "NAME=path"), ("a=/no/such/report.json", "does not exist")])
def test_bad_arm_exits_2_with_one_line(tmp_path, capsys, arm, message):
    assert _load().main([f"--arm={arm}", f"--out={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_an_arm_without_a_protocol_shows_a_dash_and_keeps_the_others(tmp_path):
    """S0's arm is evaluated at 8-16 px, the baseline also at 7 px: cr_7 stays in the table for the arms that
    have it, the S0 claims are judged where both arms were evaluated."""
    bench = _load()
    rng = np.random.default_rng(1)
    base = {p: rng.uniform(0.55, 0.6, 10) for p in ("low_res", "cr_7", "cr_8", "cr_12", "cr_16")}
    st_m1 = {p: v + 0.02 for p, v in base.items() if p != "cr_16"}
    sl_margin = {p: v + (0.03 if p == "cr_8" else -0.03) for p, v in base.items() if p != "cr_7"}
    arms = [f"pretrained={_report(tmp_path / 'a.json', base)}", f"st_m1={_report(tmp_path / 'b.json', st_m1)}",
            f"sl_margin={_report(tmp_path / 'c.json', sl_margin)}"]
    out = tmp_path / "out"
    assert bench.main([f"--arm={a}" for a in arms] + [f"--out={out}"]) == 0
    result = json.loads((out / "comparison.json").read_text())
    assert result["protocols"] == ["low_res", "cr_7", "cr_8", "cr_12", "cr_16"]
    assert "sl_margin" not in result["table"]["cr_7"] and "st_m1" not in result["table"]["cr_16"]
    verdicts = {c["id"]: c["verdict"] for c in result["claims"]}
    assert verdicts["S0a"] == "reproduced" and verdicts["S0b"] == verdicts["S0c"] == "not reproduced"
    md = (out / "comparison.md").read_text()
    cr7 = next(line for line in md.splitlines() if line.startswith("| cr_7 |"))
    assert cr7.rstrip().endswith("| - |")


def test_issue14_equal_terms_section_lists_its_arms_with_budget_and_best(tmp_path):
    bench = _load()
    base = {p: np.full(10, 0.6) for p in ("hr", "low_res", "cr_8")}
    better = {p: v + (0.2 if p == "low_res" else -0.01) for p, v in base.items()}
    arms = [f"pretrained={_report(tmp_path / 'a.json', base)}", f"distill={_report(tmp_path / 'b.json', better)}",
            f"rim={_report(tmp_path / 'c.json', base)}"]
    out = tmp_path / "out"
    assert bench.main([f"--arm={a}" for a in arms] + [f"--out={out}"]) == 0
    text = (out / "comparison.md").read_text()
    section = text[text.index("Issue 14's equal-terms comparison"):]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    rows = rows[:next(i for i, r in enumerate(rows) if r.startswith("| claim"))]
    assert [r.split(" | ")[0] for r in rows] == ["| pretrained", "| distill"]  # rim is a claim arm, not listed
    assert "| distill | 600 x 64 | 59.00 | **80.00** |" in text  # best low_res in bold
    assert "| pretrained | none | **60.00** | 60.00 |" in text
    assert "| budget | none | 600 x 64 | claim: 100 + 200 x 32 |" in text
