"""ResolutionDegradation keeps the pixels behind the committed reference figures (results/reference).

The reference is the arithmetic those figures were computed with, written out here: ``tf.image.resize``
down to r x r (``kernel``, ``antialias``), ``tf.image.resize`` back up (``up_kernel``, no antialias),
one clip to [0, 255] at the end, optionally rounded. Every supported setting must give bit-identical
pixels on real faces at every size from 5 to 112 px.
"""

import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.data.degrade import KERNELS
from lrfr_tf.data.images import load_images
from lrfr_tf.eval.degradation import HR_KEY, ResolutionDegradation

SIZES = range(5, 113)


def reference_pixels(images, size, kernel="bicubic", antialias=True, up_kernel=None, round_to_uint8=False):
    """The committed figures' degradation (the former ``reduce_resolution``), independent of lrfr_tf."""
    x = tf.constant(images, tf.float32)
    small = tf.image.resize(x, [size, size], method=kernel, antialias=antialias)
    up = tf.clip_by_value(tf.image.resize(small, x.shape[1:3], method=up_kernel or kernel), 0.0, 255.0).numpy()
    return np.round(up) if round_to_uint8 else up


@pytest.fixture(scope="module")
def faces(sample_dir):
    """Six real aligned LFW faces (the embedded sample), uint8 RGB [6, 112, 112, 3], decoded as the harness does."""
    paths = sorted((sample_dir / "lfw" / "aligned112").glob("*/*.jpg"))[::40][:6]
    assert len(paths) == 6
    return load_images([str(p) for p in paths], progress=False)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("antialias", [True, False], ids=["aa", "no_aa"])
def test_bit_identical_to_the_reference_at_every_size(faces, kernel, antialias):
    deg = ResolutionDegradation(kernel=kernel, antialias=antialias)
    for size in SIZES[:-1]:  # 112 is the undegraded input
        out = deg(faces, size)
        assert out.dtype == np.float32 and out.shape == faces.shape
        np.testing.assert_array_equal(out, reference_pixels(faces, size, kernel, antialias), err_msg=f"{size} px")
    np.testing.assert_array_equal(deg(faces, 112), faces.astype(np.float32))


@pytest.mark.parametrize("up_kernel", KERNELS)
def test_bit_identical_with_another_up_kernel_and_rounding(faces, up_kernel):
    for round_to_uint8 in (False, True):
        deg = ResolutionDegradation(up_kernel=up_kernel, round_to_uint8=round_to_uint8)
        for size in (5, 7, 8, 11, 16, 24, 33, 56, 80, 111):
            np.testing.assert_array_equal(
                deg(faces, size), reference_pixels(faces, size, "bicubic", True, up_kernel, round_to_uint8),
                err_msg=f"{size} px, up {up_kernel}, rounded {round_to_uint8}")


def test_bit_identical_on_non_square_faces_and_single_images(faces):
    """112x96 crops (SphereFace) keep their shape; a batch of one gives the pixels of the whole batch."""
    crops = np.ascontiguousarray(faces[:, :, 8:104])
    deg = ResolutionDegradation()
    for size in (5, 14, 28, 96, 100):
        np.testing.assert_array_equal(deg(crops, size), reference_pixels(crops, size), err_msg=f"{size} px")
    np.testing.assert_array_equal(deg(crops, 112), crops.astype(np.float32))
    np.testing.assert_array_equal(deg(faces[2:3], 9), deg(faces, 9)[2:3])


def test_identity_and_keys():
    deg = ResolutionDegradation()
    assert deg.key(0, (112, 112)) == deg.key(112, (112, 112)) == HR_KEY
    assert deg.key(8, (112, 112)) == "bicubic-aa-bicubic-8"
    assert ResolutionDegradation("area", False, "bilinear", True).key(8, (112, 112)) == "area-bilinear-8-u8"
    with pytest.raises(ValueError, match="kernel"):
        ResolutionDegradation(kernel="lanczos")
