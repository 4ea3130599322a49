"""Fixtures of the edge tests: raw LFW images with their MTCNN landmarks, and the pipeline on the pretrained
MobileFaceNet (built once per session)."""

import pytest

from benchmarks.edge_small_faces import read_mtcnn_landmarks
from lrfr_tf.edge.inputs import read_image


@pytest.fixture(scope="session")
def landmarks_250(lfw_dir):
    return read_mtcnn_landmarks(lfw_dir)


@pytest.fixture(scope="session")
def raw_image(lfw_dir):
    def load(relative):
        return read_image(str(lfw_dir / "raw250" / relative))
    return load


@pytest.fixture(scope="session")
def mobilefacenet_pipeline(mobilefacenet_tflite):
    from lrfr_tf.edge.edge_pipeline import EdgePipeline

    return EdgePipeline(str(mobilefacenet_tflite), detector="full", landmarks="mesh", num_threads=1)
