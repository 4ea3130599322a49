"""Shared fixtures: paths to the real data in ../shared and the embedded sample."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SAMPLE = REPO / "lrfr_tf" / "data" / "sample"


def _shared(sub: str) -> pathlib.Path:
    path = SHARED / sub
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must have ../shared beside the checkout")
        pytest.skip(f"{path} is absent (../shared is not beside this checkout)")
    return path


@pytest.fixture(scope="session")
def lfw_dir() -> pathlib.Path:
    return _shared("lfw")


@pytest.fixture(scope="session")
def celeba_dir() -> pathlib.Path:
    return _shared("celeba/aligned112")


@pytest.fixture(scope="session")
def mobilefacenet_tflite() -> pathlib.Path:
    return _shared("models/mobilefacenet/MobileFaceNet.tflite")


@pytest.fixture(scope="session")
def sample_dir() -> pathlib.Path:
    return SAMPLE
