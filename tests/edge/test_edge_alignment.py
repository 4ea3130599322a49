"""Umeyama's similarity against a closed-form least-squares solve and OpenCV; alignment onto the template."""

import cv2
import numpy as np
import pytest

from lrfr_tf.edge.alignment import TEMPLATE_112, align, template_for, umeyama
from lrfr_tf.preprocessing import ARCFACE, SPHEREFACE_112X96, Preprocessing


def similarity(angle, scale, tx, ty):
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return np.array([[c, -s, tx], [s, c, ty]])


def apply(matrix, points):
    return points @ matrix[:, :2].T + matrix[:, 2]


def linear_least_squares(src, dst):
    """The similarity x' = a x - b y + tx, y' = b x + a y + ty by ordinary least squares (linear in a, b, tx, ty)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, -y, 1, 0], [y, x, 0, 1]]
        rhs += [u, v]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]])


def test_umeyama_recovers_a_known_rotation_scale_and_translation():
    truth = similarity(np.deg2rad(23.0), 0.37, 12.5, -40.0)
    src = np.random.default_rng(0).uniform(0, 250, (5, 2))
    np.testing.assert_allclose(umeyama(src, apply(truth, src)), truth, atol=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_umeyama_is_the_least_squares_similarity_for_noisy_points(seed):
    rng = np.random.default_rng(seed)
    src = rng.uniform(50, 200, (5, 2))
    dst = apply(similarity(rng.uniform(-1, 1), rng.uniform(0.3, 3), *rng.uniform(-50, 50, 2)), src) + rng.normal(0, 3, (5, 2))
    ours = umeyama(src, dst)
    np.testing.assert_allclose(ours, linear_least_squares(src, dst), atol=1e-8)
    opencv, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)  # robust fit: close, not identical
    assert np.abs(apply(ours, src) - apply(opencv, src)).max() < 10
    residual = lambda m: ((apply(m, src) - dst) ** 2).sum()  # noqa: E731
    assert residual(ours) <= residual(opencv) + 1e-9


def test_umeyama_never_reflects():
    src = np.array([[0, 0], [1, 0], [0, 1]], float)
    mirrored = src * np.array([-1, 1])
    matrix = umeyama(src, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_umeyama_refuses_degenerate_points():
    with pytest.raises(ValueError, match="coincide"):
        umeyama(np.ones((5, 2)), TEMPLATE_112)


def test_template_follows_the_crop_and_size():
    np.testing.assert_allclose(template_for(ARCFACE), TEMPLATE_112)
    np.testing.assert_allclose(template_for(SPHEREFACE_112X96), TEMPLATE_112 - [8, 0])  # 8 px off each side
    small = Preprocessing(size=(56, 56))
    np.testing.assert_allclose(template_for(small), TEMPLATE_112 / 2)


def smooth_texture(size, seed=0):
    noise = np.random.default_rng(seed).uniform(0, 255, (size, size, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 3) * 4 - 384, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("scale", [0.7, 1.0, 1.6, 4.0])
def test_align_undoes_a_known_similarity(scale):
    """A 112x112 face placed into a bigger image by a known similarity comes back to the same pixels (at 4x the
    big face is shrunk by area averaging first)."""
    face = smooth_texture(112)
    forward = similarity(np.deg2rad(15.0), scale, 40.0, 25.0)
    size = int(112 * scale + 100)
    image = cv2.warpAffine(face, forward, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    aligned, matrix = align(image, apply(forward, TEMPLATE_112), ARCFACE)
    assert aligned.shape == (112, 112, 3)
    np.testing.assert_allclose(matrix, cv2.invertAffineTransform(forward), atol=1e-8)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(aligned[inner].astype(float) - face[inner]).mean() < 6.0


def test_a_face_at_the_image_border_aligns_with_padding():
    image = smooth_texture(100)
    landmarks = TEMPLATE_112 - [60, 0]  # left half of the face outside the image
    replicate, _ = align(image, landmarks, ARCFACE)
    constant, _ = align(image, landmarks, ARCFACE, border="constant")
    assert replicate.shape == constant.shape == (112, 112, 3)
    assert (constant[:, :50] == 0).all() and replicate[:, :50].std() > 0
    with pytest.raises(ValueError, match="border"):
        align(image, landmarks, ARCFACE, border="wrap")


def test_grayscale_images_align_too():
    gray = smooth_texture(150)[:, :, 0]
    aligned, _ = align(gray, TEMPLATE_112 + 10, ARCFACE)
    np.testing.assert_array_equal(aligned, gray[10:122, 10:122])
