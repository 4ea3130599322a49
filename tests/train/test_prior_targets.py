"""RIM's facial priors (issue 15, item 4): five landmarks per face from the face mesh, not one template."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.data.images import load_image
from lrfr_tf.packaged_models import EYES, MOUTH_CORNERS, NOSE_TIP, five_points
from lrfr_tf.train import prior_targets, recipes

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "lrfr_tf", "data", "sample", "celeba")


def _faces(n=8):
    paths = sorted(glob.glob(os.path.join(SAMPLE, "*", "*.jpg")))[:n]
    return [load_image(p) for p in paths]


def test_five_points_are_the_eye_centroids_nose_tip_and_mouth_corners():
    points = np.random.default_rng(0).uniform(0, 112, (468, 2))
    five = five_points(points)
    expected = [points[list(EYES[0])].mean(0), points[list(EYES[1])].mean(0), points[NOSE_TIP],
                points[MOUTH_CORNERS[0]], points[MOUTH_CORNERS[1]]]
    np.testing.assert_allclose(five, np.stack(expected))


@pytest.fixture(scope="module")
def parser():
    return prior_targets.FaceMeshParser(prior_targets.find_face_mesh_model("auto"), (56, 56))


def test_landmarks_are_per_face_and_near_the_alignment_template(parser):
    template = prior_targets.template_landmarks((112, 112))
    found = []
    for k, face in enumerate(_faces()):
        parsing, landmarks, ok = parser.parse(face, k)
        assert landmarks.shape == (5, 2) and landmarks.dtype == np.float32 and parsing.shape == (56, 56)
        if ok:
            found.append(landmarks)
    assert len(found) >= 6
    found = np.stack(found)
    eye_distance = np.linalg.norm(template[1] - template[0])
    # aligned faces: every point near the template (median 10-17% of the eye distance on the sample: the mesh's
    # points are not MTCNN's, and alignment leaves residuals), in template order
    error = np.linalg.norm(found - template, axis=-1)
    assert np.all(error < 0.5 * eye_distance) and np.all(np.median(error, axis=0) < 0.25 * eye_distance)
    assert np.all(found[:, 0, 0] < found[:, 1, 0]) and np.all(found[:, 3, 0] < found[:, 4, 0])
    # ...but not the template: the points differ from face to face (the old target was one constant)
    assert np.max(found.std(axis=0)) > 0.5


def test_a_face_the_mesh_cannot_find_gets_the_template(parser):
    parsing, landmarks, ok = parser.parse(np.zeros((112, 112, 3), np.uint8), 999)
    assert not ok and not parsing.any()
    np.testing.assert_allclose(landmarks, prior_targets.template_landmarks((112, 112)))


def test_rim_batches_carry_each_faces_landmarks_through_the_flip(parser):
    import lrfr_tf.train.methods  # noqa: F401  (registers the methods)
    from lrfr_tf.train.method import METHODS

    config = recipes.load_config("rim", ["scale=smoke", "data.flip=true"])
    method = METHODS.get("rim")(config, num_classes=4)
    fn = method.map_fn()
    face = _faces(1)[0]
    _, expected, ok = parser.parse(face, 0)
    assert ok
    flipped = prior_targets.flip_landmarks(tf.constant(expected), 112).numpy()
    seen = set()
    for seed in range(12):
        out = fn({"image": tf.constant(face, tf.float32), "index": tf.constant(0, tf.int64),
                  "label": tf.constant(0, tf.int32)}, tf.constant([seed, 1], tf.int64))
        got = out["landmarks"].numpy()
        is_flipped = not np.allclose(out["image"].numpy(), face)
        np.testing.assert_allclose(got, flipped if is_flipped else expected, atol=1e-4)
        seen.add(is_flipped)
    assert seen == {True, False}
