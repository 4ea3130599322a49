"""Fixtures of the edge tests: raw LFW images with their MTCNN landmarks, and the pipeline on the pretrained
MobileFaceNet (built once per session)."""

import csv

import numpy as np
import pytest

from lrfr_tf.edge.inputs import read_image

LANDMARK_COLUMNS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def mtcnn_landmarks(lfw_dir):
    """{relative image path: [5, 2] MTCNN points in template order} from lfw/landmarks_250px.tsv."""
    with open(lfw_dir / "landmarks_250px.tsv", newline="") as f:
        return {row["file"]: np.array([[float(row[f"x_{k}"]), float(row[f"y_{k}"])] for k in LANDMARK_COLUMNS])
                for row in csv.DictReader(f, delimiter="\t")}


def raw_files(lfw_dir):
    root = lfw_dir / "raw250"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.jpg"))


@pytest.fixture(scope="session")
def landmarks_250(lfw_dir):
    return mtcnn_landmarks(lfw_dir)


@pytest.fixture(scope="session")
def raw_image(lfw_dir):
    def load(relative):
        return read_image(str(lfw_dir / "raw250" / relative))
    return load


@pytest.fixture(scope="session")
def mobilefacenet_pipeline(mobilefacenet_tflite):
    from lrfr_tf.edge.pipeline import EdgePipeline

    return EdgePipeline(str(mobilefacenet_tflite), detector="full", landmarks="mesh", num_threads=1)
