"""Resume from damaged checkpoints: fall back to the newest intact one, never lose an intact one, refuse to
start over silently; one training per workdir."""

import glob
import logging
import os

import pytest
import tensorflow as tf

from lrfr_tf.train import checkpoints
from lrfr_tf.train.engine import Trainer

from train_fixtures import assert_same_weights, tiny_config, weights_of


def _interrupted(tmp_path, stop_at=4, steps=6, keep=3):
    workdir = str(tmp_path / "run")
    Trainer(tiny_config(steps=steps, checkpoint__keep=keep), workdir).run(stop_at=stop_at)
    return workdir, os.path.join(workdir, "checkpoints")


def _steps(ckpt_dir):
    return [s for s, _ in checkpoints.checkpoint_steps(ckpt_dir)]


def _data_file(ckpt_dir, step):
    (path,) = glob.glob(os.path.join(ckpt_dir, f"ckpt-{step}.data-*"))
    return path


def _delete_index(d):
    os.remove(os.path.join(d, "ckpt-4.index"))


def _truncate_data(d):
    path = _data_file(d, 4)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _flip_bit(d):
    path = _data_file(d, 4)
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 3)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x10]))


def _garble_index(d):
    with open(os.path.join(d, "ckpt-4.index"), "r+b") as f:
        f.seek(10)
        f.write(b"\x00garbage\xff" * 4)


@pytest.mark.parametrize("damage", [_delete_index, _truncate_data, _flip_bit, _garble_index])
def test_damaged_latest_falls_back_to_newest_intact(tmp_path, damage, caplog):
    workdir, ckpt_dir = _interrupted(tmp_path)
    assert _steps(ckpt_dir) == [4, 3, 2]
    reference = Trainer(tiny_config(steps=6), str(tmp_path / "ref"))
    reference.run(stop_at=3)
    damage(ckpt_dir)
    resumed = Trainer(tiny_config(steps=6, checkpoint__keep=3), workdir)
    with caplog.at_level(logging.WARNING):
        assert resumed.restore() == 3
    assert any("ckpt-4" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)
    assert_same_weights(weights_of(reference), weights_of(resumed))  # really step 3's weights
    assert not glob.glob(os.path.join(ckpt_dir, "ckpt-4.*"))  # set aside, not in the way of the next save
    assert glob.glob(os.path.join(ckpt_dir, "damaged", "ckpt-4.*"))
    assert _steps(ckpt_dir) == [3, 2]  # the intact ones are kept
    resumed.run()
    assert int(resumed.step.numpy()) == 6 and _steps(ckpt_dir) == [6, 5, 4]
    assert tf.train.latest_checkpoint(ckpt_dir).endswith("ckpt-6")


def test_garbled_state_file_is_not_trusted(tmp_path):
    workdir, ckpt_dir = _interrupted(tmp_path)
    with open(os.path.join(ckpt_dir, "checkpoint"), "w") as f:
        f.write("model_checkpoint_path: \x00\x01 {{{ not a proto")
    assert Trainer(tiny_config(steps=6), workdir).restore() == 4


def test_no_intact_checkpoint_refuses_to_restart_unless_told(tmp_path):
    workdir, ckpt_dir = _interrupted(tmp_path, stop_at=2, keep=1)
    assert _steps(ckpt_dir) == [2]
    os.remove(os.path.join(ckpt_dir, "ckpt-2.index"))
    before = sorted(os.listdir(ckpt_dir))
    with pytest.raises(checkpoints.CheckpointError, match=r"ckpt-2.*index.*checkpoint.restart=true"):
        Trainer(tiny_config(steps=6, checkpoint__keep=1), workdir).run()
    assert sorted(os.listdir(ckpt_dir)) == before  # nothing changed
    trainer = Trainer(tiny_config(steps=3, checkpoint__keep=1, checkpoint__restart=True), workdir)
    assert trainer.restore() == 0
    (aside,) = glob.glob(os.path.join(ckpt_dir, "previous-*"))
    assert glob.glob(os.path.join(aside, "ckpt-2.data-*"))  # moved, not deleted


def test_a_new_checkpoint_that_fails_verification_deletes_nothing(tmp_path, monkeypatch):
    workdir, ckpt_dir = _interrupted(tmp_path)
    trainer = Trainer(tiny_config(steps=6), workdir)
    trainer.restore()
    monkeypatch.setattr(checkpoints, "verify", lambda prefix: "simulated: CRC mismatch" if prefix.endswith("-5") else None)
    trainer.step.assign(5)
    with pytest.raises(OSError, match="did not verify.*last good checkpoint is .*ckpt-4"):
        trainer.save()
    assert {2, 3, 4} <= set(_steps(ckpt_dir))


def test_second_training_on_the_same_workdir_is_refused(tmp_path):
    workdir = str(tmp_path / "run")
    with checkpoints.WorkdirLock(workdir):  # another training holds the workdir
        with pytest.raises(checkpoints.WorkdirInUseError, match=rf"PID {os.getpid()}"):
            Trainer(tiny_config(steps=2), workdir).run()
    summary = Trainer(tiny_config(steps=2), workdir).run()  # the lock is released with its holder
    assert summary["step"] == 2


def test_verify_reports_missing_shard_and_reads_intact(tmp_path):
    _, ckpt_dir = _interrupted(tmp_path, stop_at=2)
    prefix = os.path.join(ckpt_dir, "ckpt-2")
    assert checkpoints.verify(prefix) is None
    os.remove(_data_file(ckpt_dir, 2))
    assert "data" in checkpoints.verify(prefix)


def test_an_image_that_breaks_training_is_named(tmp_path):
    """verify="none" lets a corrupt PNG into training; the decode error names the file, not just the op."""
    import shutil

    import cv2
    import numpy as np

    from train_fixtures import SAMPLE_CELEBA

    data = tmp_path / "data"
    shutil.copytree(SAMPLE_CELEBA, data)
    victim = sorted((data / sorted(os.listdir(data))[0]).iterdir())[0]
    ok, png = cv2.imencode(".png", np.full((112, 112, 3), 128, np.uint8))
    png = bytearray(png.tobytes())
    idat = png.find(b"IDAT")
    png[idat + 8: idat + 20] = b"\xff" * 12  # corrupt the compressed pixels, keep the chunk layout
    victim.unlink()
    bad = victim.with_suffix(".png")
    bad.write_bytes(bytes(png))
    config = tiny_config(steps=40, data__train=str(data), data__verify="none")
    with pytest.raises(ValueError, match=rf"cannot be decoded.*{bad.name}"):
        Trainer(config, str(tmp_path / "run")).run()
