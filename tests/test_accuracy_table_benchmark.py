"""benchmarks/accuracy_table.py: the page's rows are the harness's figures, on a small end-to-end run."""

import importlib.util
import json
import os
import pathlib
import shutil

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SAMPLE = REPO / "lrfr_tf" / "data" / "sample"
MFN = REPO.parent / "shared" / "data" / "models" / "mobilefacenet" / "MobileFaceNet.tflite"


def _load():
    spec = importlib.util.spec_from_file_location("accuracy_table", REPO / "benchmarks" / "accuracy_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_accuracy_table_end_to_end(tmp_path):
    from lrfr_tf.eval import protocols as P
    from tests.export.conftest import small_model

    bench = _load()
    lfw = tmp_path / "lfw"
    lfw.mkdir()
    os.symlink(SAMPLE / "lfw" / "aligned112", lfw / "aligned112")
    shutil.copy(SAMPLE / "lfw" / "pairs.txt", lfw / "pairs.txt")
    for k, stem in enumerate(P.PUBLISHED):
        P.write_protocol(str(lfw / "protocols" / f"{stem}.csv"), P.generate_protocol(200, 5 + k, 40, seed=k))
    model = small_model()
    model(np.zeros((1, 112, 112, 3), np.float32))
    model.save(tmp_path / "small.keras")
    page = tmp_path / "README.md"
    # A .tflite model through the page: the small model converted (fast), not the 1M-parameter MobileFaceNet.
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    (tmp_path / "small.tflite").write_bytes(converter.convert())
    rc = bench.main([f"--model=small={tmp_path / 'small.keras'}", f"--data={lfw}", f"--model=mfn={tmp_path / 'small.tflite'}",
                     f"--identification_data={SAMPLE / 'celeba'}", f"--out={tmp_path / 'out'}", f"--page={page}",
                     "--latency_runs=3"])
    assert rc == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    table = json.loads((tmp_path / "out" / "table.json").read_text())["rows"]
    assert [r["model"] for r in table] == ["small", "mfn"]
    for row, entry in zip(table, report["models"]):
        v = entry["verification"]
        assert row["hr"] == pytest.approx(100 * v["hr"]["accuracy"])
        assert row["low_res"] == pytest.approx(100 * v["low_res"]["accuracy"])
        assert row["low_res TAR@1e-2"] == pytest.approx(100 * v["low_res"]["tar_at_far"]["0.01"])
        assert row["cr_8"] == pytest.approx(100 * v["cr_8"]["accuracy"])
        assert row["er_40"] == pytest.approx(100 * v["er_40"]["accuracy"])
        assert row["rank1_12"] == pytest.approx(100 * entry["identification"]["sizes"]["12"]["rank1"])
        assert entry["identification"]["identities"] == "holdout" and entry["identification"]["num_identities"] == 8
    assert table[1]["size_mb"] == pytest.approx((tmp_path / "small.tflite").stat().st_size / 1e6)
    assert table[1]["latency"]["median_ms"] > 0 and "size_mb" not in table[0]
    assert abs(table[1]["hr"] - table[0]["hr"]) < 3  # the same network in Keras and TFLite
    text = page.read_text()
    assert f"| mfn | {table[1]['hr']:.2f} |" in text and "(paper, abstract)" in text
    assert (tmp_path / "out" / "accuracy_table.png").stat().st_size > 0


def test_latency_of_the_pretrained_model():
    lat = _load().latency(str(MFN), runs=5)
    assert lat["runs"] == 5 and 0 < lat["median_ms"] <= lat["p90_ms"]


def test_accuracy_table_bad_model_flag_is_one_line(tmp_path, capsys):
    bench = _load()
    assert bench.main(["--model=noequals", f"--out={tmp_path}"]) == 2
    assert "--model: expected NAME=PATH" in capsys.readouterr().err
    assert bench.main([f"--model=x={tmp_path / 'missing.keras'}", f"--out={tmp_path}"]) == 2
    assert "missing.keras: no such file" in capsys.readouterr().err


def _row(name, **figures):
    return {"model": name, **figures}


def test_targets_margins_and_int8_gaps():
    bench = _load()
    f = _row(bench.SHIPPED, hr=99.0, low_res=81.0, cr_8=83.5, er_8=70.0, size_mb=2.1, latency={"median_ms": 5.0})
    q = _row(bench.SHIPPED_INT8, hr=98.9, low_res=80.2, cr_8=83.6, er_8=70.0, size_mb=1.2)
    rows = {t["figure"]: t for t in bench.target_rows([_row("other", hr=99.9), f, q])}
    assert set(rows) == set(bench.TARGETS)
    assert rows["hr"]["float"] == 99.0 and rows["hr"]["float_margin"] == pytest.approx(99.0 - 99.1)
    assert rows["hr"]["int8_margin"] == pytest.approx(98.9 - 99.1) and rows["hr"]["met"] is False
    assert rows["mid_res"]["float"] is None and rows["mid_res"]["met"] is False  # not measured is not met
    gaps = bench.int8_gaps([f, q])
    assert set(gaps["gaps"]) == {"hr", "low_res", "cr_8", "er_8"}  # size and latency are not figures
    assert gaps["gaps"]["low_res"] == pytest.approx(-0.8) and gaps["worst"] == "low_res"
    assert gaps["max_abs"] == pytest.approx(0.8) and set(gaps["beyond_tolerance"]) == {"low_res"}
    assert bench.int8_gaps([f]) is None
    met = bench.target_rows([_row(bench.SHIPPED, hr=99.2), _row(bench.SHIPPED_INT8, hr=99.1)])
    assert next(t for t in met if t["figure"] == "hr")["met"] is True


def test_tried_text_names_the_best_arm_per_figure(tmp_path):
    bench = _load()
    table = {"hr": {"pretrained": {"accuracy": 99.2}, "a": {"accuracy": 99.0}, "b": {"accuracy": 97.0}},
             "low_res": {"pretrained": {"accuracy": 58.0, "tar_at_far_1e-2": 4.0},
                         "a": {"accuracy": 80.0, "tar_at_far_1e-2": 30.0}, "b": {"accuracy": 81.0, "tar_at_far_1e-2": 20.0}}}
    path = tmp_path / "comparison.json"
    path.write_text(json.dumps({"baseline": "pretrained", "arms": ["pretrained", "a", "b"], "table": table}))
    text = bench.tried_text(str(path))
    assert "2 arms" in text and "112 px 99.00 (a)" in text and "low_res 81.00 (b)" in text
    assert "TAR@FAR 1e-2 low_res 30.00 (a)" in text and "CR 8" not in text  # the baseline is not an arm
    assert bench.tried_text(str(tmp_path / "missing.json")) == ""
