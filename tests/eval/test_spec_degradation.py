"""Evaluation under a training degradation spec: the same ops, the same pixels for the same spec, size and seed."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.data import degrade
from lrfr_tf.eval import reports
from lrfr_tf.eval.degradation import SpecDegradation

REPO = pathlib.Path(__file__).resolve().parents[2]
CAMERA_AT_16 = ("blur(0.5, 1.5)|resolution(size=16)|poisson_noise(100, 1000)|gaussian_noise(1, 5)"
                "|jpeg(30, 90)|resize()")


def test_training_and_evaluation_give_identical_pixels():
    rng = np.random.default_rng(0)
    faces = rng.uniform(0, 255, (3, 112, 112, 3)).astype(np.float32)
    seeds = np.array([[5, 11], [5, 12], [9, 3]], np.int64)
    train_deg = degrade.parse(CAMERA_AT_16)  # what a training pipeline with the camera at 16 px applies
    ds = tf.data.Dataset.from_tensor_slices((faces, seeds)).map(lambda x, s: train_deg(x, s))
    trained = np.stack([x.numpy() for x in ds])
    evaluated = SpecDegradation("camera")(faces, 16, seeds=seeds)  # camera preset, size set by the protocol
    np.testing.assert_array_equal(trained, evaluated)
    assert not np.array_equal(evaluated, SpecDegradation("camera")(faces, 14, seeds=seeds))


def test_per_image_seeds_do_not_depend_on_the_batch():
    rng = np.random.default_rng(1)
    faces = rng.uniform(0, 255, (4, 112, 112, 3)).astype(np.float32)
    deg = SpecDegradation("camera", seed=3)
    whole = deg(faces, 12)
    np.testing.assert_array_equal(whole[2:], deg(faces[2:], 12))
    np.testing.assert_array_equal(deg(faces, 0), faces)  # protocols.HR: undegraded
    assert deg.key(12, (112, 112)) != SpecDegradation("camera", seed=4).key(12, (112, 112))


def test_a_spec_without_resolution_is_refused():
    with pytest.raises(ValueError, match="no resolution"):
        SpecDegradation("blur(0.5, 1.5)")
    with pytest.raises(ValueError):
        SpecDegradation("resolution(size=")


def test_evaluate_cli_under_the_camera_preset(tmp_path, sample_dir, mobilefacenet_tflite):
    cmd = [sys.executable, "-m", "lrfr_tf.evaluate", f"--model={mobilefacenet_tflite}", "--preprocessing=arcface",
           f"--data={sample_dir / 'lfw'}", "--protocol=cr", "--sizes=12", "--degradation=camera",
           f"--out={tmp_path}", "--progress=false"]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = reports.read_json(str(tmp_path / "report.json"))
    assert report["settings"]["degradation"]["spec"].startswith("blur(")
    v = report["models"][0]["verification"]
    assert 0.5 <= v["cr_12"]["accuracy"] <= v["hr"]["accuracy"]
