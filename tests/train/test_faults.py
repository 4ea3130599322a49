"""Faults with figures: SIGKILL at seven points ends bit-identical to an uninterrupted run; resuming on two
replicas works and says so; a full disk is a clear error that keeps the last good checkpoint; exploding weights
are reported."""

import contextlib
import glob
import logging
import os
import pathlib
import resource
import signal
import subprocess
import sys
import uuid

import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.train import checkpoints

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
CHILD = str(HERE / "fault_child.py")


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}


def _child(workdir, point="none", at=0, *extra, expect_kill=False, **kw):
    p = subprocess.run([sys.executable, CHILD, str(workdir), point, str(at), *extra], cwd=REPO, env=_env(),
                       capture_output=True, text=True, timeout=600, **kw)
    if expect_kill:
        assert p.returncode == -signal.SIGKILL, f"{point}@{at} was not killed (rc {p.returncode}): {p.stderr[-2000:]}"
    else:
        assert p.returncode == 0 and "DONE" in p.stdout, p.stdout[-2000:] + p.stderr[-3000:]
    return p


def _values(ckpt_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(ckpt_dir))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if "save_counter" not in k}


@pytest.mark.slow
def test_sigkill_at_seven_points_ends_bit_identical(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    _child(straight)
    kills = [("step", 3), ("torn_write", 5), ("first_step", 0), ("before_state", 7), ("rotation", 9),
             ("first_step", 0), ("export", 0)]
    for point, at in kills:
        _child(killed, point, at, expect_kill=True)
        if point == "torn_write":  # the torn ckpt-5 is found on the next resume
            assert glob.glob(str(killed / "checkpoints" / "ckpt-5.data-*"))
    last = _child(killed)
    assert glob.glob(str(killed / "checkpoints" / "damaged" / "ckpt-5.*")), "the torn checkpoint was not set aside"
    a, b = _values(str(straight / "checkpoints")), _values(str(killed / "checkpoints"))
    assert a.keys() == b.keys() and len(a) > 4
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert "DONE 12" in last.stdout
    steps = [s for s, _ in checkpoints.checkpoint_steps(str(killed / "checkpoints"))]
    assert steps == [12, 11, 10]  # rotation finished, including the one that was interrupted
    assert not checkpoints.orphan_steps(str(killed / "checkpoints"))


@pytest.mark.slow
def test_resume_on_two_replicas_works_and_says_so(tmp_path):
    straight, moved = tmp_path / "straight", tmp_path / "moved"
    _child(straight)
    _child(moved, "step", 6, expect_kill=True)
    resumed = _child(moved, "none", 0, "--replicas=2")
    assert "trained on 1 replica(s), on 2 replica(s)" in resumed.stdout
    a, b = _values(str(straight / "checkpoints")), _values(str(moved / "checkpoints"))
    assert a.keys() == b.keys()
    numeric = [k for k in a if np.asarray(a[k]).dtype.kind in "fiu"]
    assert len(numeric) > 4
    for k in numeric:  # same global batch and stream: equal up to the order of the gradient sum
        np.testing.assert_allclose(a[k], b[k], rtol=1e-3, atol=1e-4, err_msg=k)


@contextlib.contextmanager
def _small_disk(path, size_kb):
    """A tmpfs of ``size_kb`` at ``path``; where mounting is not allowed, a per-file size quota instead
    (RLIMIT_FSIZE in the child: writes past it fail with EFBIG, as writes to a full disk fail with ENOSPC)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
                             capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_full_disk_is_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path):
    disk = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    with _small_disk(disk, 2048) as mounted:
        workdir = disk / "run"
        cmd = [sys.executable, "-m", "lrfr_tf.train", f"--recipe={HERE}/tiny_recipe.py", f"--workdir={workdir}",
               "--config.log.progress=false"]
        _child(workdir, "step", 2, expect_kill=True)  # ckpt-1 and ckpt-2 on the small disk (killed before step 3)
        good = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
        assert good.endswith("ckpt-2")
        if mounted:  # fill the disk
            with open(disk / "filler", "wb", buffering=0) as f:
                with contextlib.suppress(OSError):
                    while True:
                        f.write(b"\0" * 4096)
            limit = None
        else:
            limit = 2048  # bytes per file: smaller than a checkpoint's .data file

        def quota():
            if limit is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        p = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600, preexec_fn=quota)
        assert p.returncode in (1, 2), p.stderr[-3000:]
        lines = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and ("space" in lines[0].lower() or "too large" in lines[0].lower()), p.stderr[-3000:]
        assert "Traceback" not in p.stderr
        assert checkpoints.verify(good) is None  # the last good checkpoint is intact
        assert "ckpt-2" in lines[0] or tf.train.latest_checkpoint(str(workdir / "checkpoints")) == good


def test_exploding_weights_are_reported(tmp_path, caplog):
    from lrfr_tf.train.engine import Trainer
    from train_fixtures import tiny_config

    config = tiny_config(steps=6)
    config.stages.train.updates.main.optimizer.lr = 1e3
    with caplog.at_level(logging.WARNING):
        summary = Trainer(config, str(tmp_path)).run()
    warnings = [r.getMessage() for r in caplog.records if "weight norm" in r.getMessage()]
    assert warnings, "no weight-norm warning for lr=1e3"
    assert "lr" in warnings[0] and "step" in warnings[0]
    assert summary.get("weight_norm_warnings")
