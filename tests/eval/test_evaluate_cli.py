"""The evaluate CLI end to end on the embedded sample: two models in one report, every output file."""

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from lrfr_tf.eval import reports

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cli_report(tmp_path_factory, sample_dir, mobilefacenet_tflite):
    out = tmp_path_factory.mktemp("eval")
    cmd = [
        sys.executable, "-m", "lrfr_tf.evaluate",
        f"--model={mobilefacenet_tflite}", f"--model={mobilefacenet_tflite}", "--name=plain", "--name=again",
        "--preprocessing=arcface", f"--data={sample_dir / 'lfw'}", "--protocol=sweep,random:5-10:1,identification",
        f"--identification_data={sample_dir / 'celeba'}", "--identification_sizes=8", "--sizes=8",
        f"--out={out}", "--progress=false",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stdout


def test_outputs_written(cli_report):
    out, stdout = cli_report
    for f in ["report.json", "report.md", "accuracy_vs_resolution.png", "identification.png", "roc_plain.png", "roc_again.png",
              "similarity_plain.png", "scores_plain.npz", "protocols/random_5-10_seed1.csv"]:
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    assert "| 8 |" in stdout  # the Markdown table is printed


def test_report_contents(cli_report):
    out, _ = cli_report
    report = reports.read_json(str(out / "report.json"))
    s = report["settings"]
    assert s["degradation"]["kernel"] == "bicubic" and s["degradation"]["round_to_uint8"] is False
    assert s["verification"]["data"]["num_pairs"] == 200 and len(s["verification"]["data"]["images_sha256"]) == 64
    assert s["versions"]["tensorflow"] and s["identification"]["sizes"] == [8]
    plain, again = report["models"]
    assert plain["model"]["model_sha256"] == "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b"
    assert plain["model"]["name"] == "plain" and again["model"]["name"] == "again"
    v = plain["verification"]
    assert set(v) == {"hr", "random_5-10_seed1", "cr_8", "er_8"}
    assert v["hr"]["accuracy"] > 0.95 and 0.5 < v["cr_8"]["accuracy"] < v["hr"]["accuracy"]
    assert len(v["cr_8"]["flips"]) == 2 and len(v["er_8"]["flips"]) == 1
    assert v["random_5-10_seed1"]["source"].endswith("random_5-10_seed1.csv")
    assert set(v["hr"]["tar_at_far"]) == {"0.1", "0.01", "0.001"}
    # Same model twice: identical figures, and the second model was served from the cache entirely.
    assert again["verification"]["cr_8"]["accuracy"] == v["cr_8"]["accuracy"]
    assert again["cache"]["misses"] == 0 and plain["cache"]["misses"] > 0
    ident = plain["identification"]
    assert ident["gallery_size"] == 30 and len(ident["sizes"]["8"]["cmc"]) == 20
    scores = np.load(out / "scores_plain.npz")
    assert scores["cr_8"].shape == (2, 200) and scores["labels"].sum() == 100
    md = (out / "report.md").read_text()
    assert "| plain | " in md and "random_5-10_seed1" in md and f"{100 * v['hr']['accuracy']:.2f}" in md


@pytest.mark.parametrize(
    "args, message",
    [
        (["--protocol=identification"], "--protocol=identification needs --identification_data"),
        (["--protocol=sweep"], "--protocol=sweep needs --data"),
        (["--name=a", "--name=b"], "2 --name for 1 --model"),
        (["--sizes=0", "--data=x"], r"--sizes: sizes must be whole numbers of pixels >= 1, got '0'"),
        (["--sizes=8,-3", "--data=x"], r"--sizes: .* got '-3'"),
        (["--sizes=8", "--identification_sizes=abc", "--protocol=identification", "--identification_data=x"],
         r"--identification_sizes: .* got 'abc'"),
        (["--batch_size=0", "--data=x"], "--batch_size must be >= 1"),
    ],
)
def test_cli_rejects_bad_flags(tmp_path, capsys, args, message):
    from lrfr_tf import evaluate

    evaluate.FLAGS(["evaluate", "--model=x.tflite", f"--out={tmp_path}", *args])
    try:
        assert evaluate.main([]) == 2
    finally:
        evaluate.FLAGS.unparse_flags()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert re.search(message, err[0]), err[0]


def test_unwritable_out_fails_before_any_work(tmp_path):
    """--out under a regular file: one line naming --out, exit 2, before the (missing) model or data are read."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cmd = [sys.executable, "-m", "lrfr_tf.evaluate", "--model=/nonexistent/model.tflite", "--data=/nonexistent",
           f"--out={blocker}/report", "--progress=false"]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and f"--out={blocker}/report" in errors[0] and "Traceback" not in proc.stderr
