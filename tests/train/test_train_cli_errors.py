"""User errors in ``python -m lrfr_tf.train``: one line naming the flag or file, exit code 2, nothing written."""

import os
import re
import shutil

import pytest
from absl.testing import flagsaver

from lrfr_tf.train import __main__ as cli
from lrfr_tf.train.engine import open_source

from train_fixtures import SAMPLE_CELEBA

HERE = os.path.dirname(os.path.abspath(__file__))
RECIPE = os.path.join(HERE, "tiny_recipe.py")


def _run(tmp_path, capsys, *overrides):
    workdir = tmp_path / "run"
    # Set the flags without parsing argv: other CLIs' required flags (evaluate's --model) share absl's FLAGS.
    cli.FLAGS.mark_as_parsed()
    try:
        with flagsaver.flagsaver(recipe=RECIPE, workdir=str(workdir)):
            rc = cli.main([], [o.removeprefix("--config.") for o in overrides])
    finally:
        cli.FLAGS.unparse_flags()
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.startswith("error:")]
    return rc, err, workdir


@pytest.mark.parametrize("override, message", [
    ("--config.data.batch_size=0", r"data.batch_size must be > 0, got 0"),
    ("--config.checkpoint.every=-1", r"checkpoint.every must be >= 0"),
    ("--config.checkpoint.keep=0", r"checkpoint.keep must be >= 1"),
    ("--config.data.train=/nonexistent/faces", r"/nonexistent/faces: no such directory or file \(config data.train"),
    ("--config.model.backbone_kwargs.chanels=8", r"model.backbone_kwargs.*chanels"),
    ("--config.data.image_size=abc", r"data.image_size.*'abc'"),
    ("--config.no_such_key=1", r"unknown config key 'no_such_key'"),
])
def test_bad_config_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, override, message):
    rc, err, workdir = _run(tmp_path, capsys, override)
    assert rc == 2 and len(err) == 1, err
    assert re.search(message, err[0]), err[0]
    assert not workdir.exists() or not os.listdir(workdir)  # no config.json, no tensorboard/


def test_single_identity_is_refused(tmp_path, capsys):
    one = tmp_path / "one"
    first = sorted(os.listdir(SAMPLE_CELEBA))[0]
    shutil.copytree(os.path.join(SAMPLE_CELEBA, first), one / first)
    rc, err, _ = _run(tmp_path, capsys, f"--config.data.train={one}")
    assert rc == 2 and "1 identity" in err[0] and "at least 2" in err[0]


def test_truncated_tflite_init_names_the_file(tmp_path, capsys, mobilefacenet_tflite):
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(open(mobilefacenet_tflite, "rb").read()[:50_000])
    rc, err, _ = _run(tmp_path, capsys, f"--config.model.init={cut}", "--config.model.backbone=mobilefacenet")
    assert rc == 2 and len(err) == 1 and str(cut) in err[0] and "truncated" in err[0], err


def test_packed_folder_is_recognised_by_format_auto(tmp_path):
    from lrfr_tf.data.folders import IdentityFolder
    from lrfr_tf.data.tfrecord import TFRecordSource, write_tfrecords

    write_tfrecords(IdentityFolder(SAMPLE_CELEBA), tmp_path / "packed", examples_per_shard=100, progress=False)
    source = open_source(str(tmp_path / "packed"))
    assert isinstance(source, TFRecordSource) and len(source) == len(IdentityFolder(SAMPLE_CELEBA))
