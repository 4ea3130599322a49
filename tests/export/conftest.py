import pathlib

import numpy as np
import pytest

SAMPLE_LFW = pathlib.Path(__file__).resolve().parents[2] / "lrfr_tf" / "data" / "sample" / "lfw"
SMALL_MOBILEFACENET = dict(stem_channels=16, stages=((2, 16, 2, 2), (2, 16, 1, 2), (2, 32, 2, 2)),
                           head_channels=32, embedding_dim=16)


def small_model(preprocessing=None, seed=0):
    import keras

    from lrfr_tf.models import create_backbone

    keras.utils.set_random_seed(seed)
    return create_backbone("mobilefacenet", preprocessing=preprocessing, **SMALL_MOBILEFACENET)


@pytest.fixture(scope="module")
def small_keras(tmp_path_factory):
    """A small MobileFaceNet saved as .keras (with its preprocessing)."""
    path = tmp_path_factory.mktemp("src") / "small.keras"
    model = small_model()
    model(np.zeros((1, 112, 112, 3), np.float32))
    model.save(path)
    return path


def faces(n=6, size=(112, 112), seed=0):
    """uint8 face-like images: smooth random fields (so resizing is meaningful)."""
    import cv2

    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, (n, 9, 9, 3)).astype(np.float32)
    return np.stack([np.clip(cv2.resize(x, size[::-1], interpolation=cv2.INTER_CUBIC), 0, 255) for x in low]).astype(np.uint8)
