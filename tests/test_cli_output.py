"""The command lines as a user runs them (subprocesses, TF's default logging): no TensorFlow start-up lines on
stderr unless ``--verbosity=1`` (or the user's own TF_CPP_MIN_LOG_LEVEL) asks for them, the run's log in a file
in the output folder, progress bars that stay on one line off a terminal, outputs without machine paths."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SAMPLE = REPO / "lrfr_tf" / "data" / "sample"
TINY_RECIPE = REPO / "tests" / "train" / "tiny_recipe.py"
STARTUP_MARKERS = ("oneDNN custom operations", "cuda", "absl::InitializeLog", "TF_ENABLE_ONEDNN_OPTS")


def run_cli(args, cwd, timeout=900, **env_extra):
    """``python -m <args>`` with TF's logging left at its defaults (conftest sets TF_CPP_MIN_LOG_LEVEL for us)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


def startup_lines(stderr: str):
    return [m for m in STARTUP_MARKERS if m.lower() in stderr.lower()]


def assert_one_line_bars(stderr: str):
    """Off a terminal a bar is drawn once at the end (or once a minute): no line holds two frames of a bar,
    and no cursor-up sequence (nested bars)."""
    assert "\x1b[A" not in stderr
    crowded = [line for line in stderr.split("\n") if line.count("%|") > 1]
    assert not crowded, crowded[0][:300]


def assert_no_machine_path(text: str, tmp_path: pathlib.Path, what: str):
    for path in {str(tmp_path), os.path.realpath(tmp_path), "/work/", os.path.expanduser("~") + os.sep, str(REPO)}:
        assert path not in text, f"{what} holds the machine path {path}"


@pytest.mark.parametrize("flags, shown", [([], False), (["--verbosity=1"], True)])
def test_evaluate_help_hides_tensorflow_startup_unless_verbose(tmp_path, flags, shown):
    # TF_ENABLE_ONEDNN_OPTS=1 makes TF print its oneDNN notice on any x86 CPU (--help runs no op).
    proc = run_cli(["lrfr_tf.evaluate", "--help", *flags], tmp_path, TF_ENABLE_ONEDNN_OPTS="1")
    assert "--model" in proc.stdout, proc.stderr[-2000:]  # (absl's --help exits with 1)
    if shown:
        assert "oneDNN custom operations" in proc.stderr and "absl::InitializeLog" in proc.stderr
    else:
        assert startup_lines(proc.stderr) == [], proc.stderr[-2000:]


def test_a_tf_log_level_the_user_set_is_kept(tmp_path):
    proc = run_cli(["lrfr_tf.evaluate", "--help"], tmp_path, TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="0")
    assert "--model" in proc.stdout
    assert "oneDNN custom operations" in proc.stderr and "absl::InitializeLog" in proc.stderr


@pytest.fixture(scope="module")
def evaluate_run(tmp_path_factory, mobilefacenet_tflite):
    """A tiny evaluation run from a scratch folder, every path given relative to it."""
    cwd = tmp_path_factory.mktemp("evaluate_cwd")
    (cwd / "model.tflite").symlink_to(mobilefacenet_tflite)
    (cwd / "lfw").symlink_to(SAMPLE / "lfw")
    (cwd / "celeba").symlink_to(SAMPLE / "celeba")
    proc = run_cli(["lrfr_tf.evaluate", "--model=model.tflite", "--preprocessing=arcface", "--data=lfw",
                    "--protocol=sweep,random:5-10:1,identification", "--identification_data=celeba",
                    "--identification_sizes=8", "--sizes=8", "--out=out"], cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, proc


def test_evaluate_is_quiet_and_logs_to_out(evaluate_run):
    cwd, proc = evaluate_run
    assert startup_lines(proc.stderr) == [], proc.stderr[-2000:]
    assert_one_line_bars(proc.stderr)
    log = (cwd / "out" / "evaluate.log").read_text()
    assert "command: python -m lrfr_tf.evaluate --model=model.tflite" in log
    assert "model hr: " in log and "(4/4 protocols)" in log and "wrote out/report.json" in log
    assert "finished in" in log
    assert "absl::InitializeLog" in log  # held back from the console, kept in the file
    assert "model hr: " in proc.stderr  # log lines reach the console too


def test_evaluate_report_holds_no_machine_path(evaluate_run):
    cwd, _ = evaluate_run
    for name in ("report.json", "report.md"):
        assert_no_machine_path((cwd / "out" / name).read_text(), cwd, name)
    report = json.loads((cwd / "out" / "report.json").read_text())
    data = report["settings"]["verification"]["data"]
    assert data["pairs_file"] == os.path.join("lfw", "pairs.txt") and len(data["pairs_sha256"]) == 64
    assert report["models"][0]["model"]["path"] == "model.tflite"
    assert report["settings"]["identification"]["data"]["root"] == "celeba"
    protocol = report["models"][0]["verification"]["random_5-10_seed1"]
    assert protocol["source"] == os.path.join("out", "protocols", "random_5-10_seed1.csv")
    import hashlib

    assert protocol["sha256"] == hashlib.sha256((cwd / protocol["source"]).read_bytes()).hexdigest()
    assert report["command"].startswith("python -m lrfr_tf.evaluate --model=model.tflite ")


@pytest.mark.parametrize("flags, verbose", [([], False), (["-v", "1"], True)])
def test_train_logs_to_workdir_train_log(tmp_path, flags, verbose):
    proc = run_cli(["lrfr_tf.train", f"--recipe={TINY_RECIPE}", "--workdir=run", "--config.log.progress=true", *flags],
                   tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if verbose:
        assert "absl::InitializeLog" in proc.stderr
        return
    assert startup_lines(proc.stderr) == [], proc.stderr[-2000:]
    assert_one_line_bars(proc.stderr)
    assert "stage train: 100%" in proc.stderr and "12/12" in proc.stderr
    log = (tmp_path / "run" / "train.log").read_text()
    assert "command: python -m lrfr_tf.train" in log and "stage 1/1 'train': steps 0..12" in log
    assert "finished in" in log
    results = (tmp_path / "run" / "results.json").read_text()
    assert_no_machine_path(results, tmp_path, "results.json")
    assert json.loads(results)["export"] == os.path.join("export", "embedder.keras")


@pytest.mark.parametrize("flags, verbose", [([], False), (["--verbosity=1"], True)])
def test_pack_logs_beside_its_output(tmp_path, flags, verbose):
    (tmp_path / "faces").symlink_to(SAMPLE / "celeba")
    proc = run_cli(["lrfr_tf.data.pack", "faces", "packed", *flags], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "packed 300 images of 30 identities into 1 shard(s) in packed" in proc.stdout
    if verbose:
        assert "absl::InitializeLog" in proc.stderr
        return
    assert startup_lines(proc.stderr) == [], proc.stderr[-2000:]
    assert_one_line_bars(proc.stderr)
    log = (tmp_path / "packed" / "pack.log").read_text()
    assert "IdentityFolder('faces': 300 images, 30 identities)" in log and "finished in" in log
    meta = (tmp_path / "packed" / "dataset.json").read_text()
    assert_no_machine_path(meta, tmp_path, "dataset.json")
    assert json.loads(meta)["source"] == "faces"
