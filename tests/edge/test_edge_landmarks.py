"""Five landmarks: the face mesh against MTCNN's points on raw LFW images, and the keypoint approximation."""

import numpy as np
import pytest

from lrfr_tf.edge.alignment import TEMPLATE_112
from lrfr_tf.edge.detector import Detection, FaceDetector
from lrfr_tf.edge.landmarks import LandmarkFinder, five_points_from_keypoints

NAMES = ("Aaron_Guiel/Aaron_Guiel_0001.jpg", "Adriana_Lima/Adriana_Lima_0001.jpg", "Alan_Greenspan/Alan_Greenspan_0001.jpg",
         "Ali_Naimi/Ali_Naimi_0001.jpg", "Amanda_Bynes/Amanda_Bynes_0001.jpg", "Bono/Bono_0001.jpg")


def test_keypoint_approximation_puts_the_mouth_corners_of_the_template():
    mouth_centre = (TEMPLATE_112[3] + TEMPLATE_112[4]) / 2
    keypoints = np.vstack([TEMPLATE_112[:3], mouth_centre, [[20, 60], [92, 60]]])
    np.testing.assert_allclose(five_points_from_keypoints(keypoints), TEMPLATE_112, atol=0.2)


@pytest.mark.parametrize("method,tolerance", [("mesh", 0.10), ("keypoints", 0.20)])
def test_landmarks_agree_with_mtcnn(method, tolerance, raw_image, landmarks_250):
    detector, finder = FaceDetector("full"), LandmarkFinder(method)
    errors = []
    for name in NAMES:
        image, truth = raw_image(name), landmarks_250[name]
        face = min(detector.detect(image), key=lambda f: np.linalg.norm(f.keypoints[0] - truth[0]))
        points = finder.find(image, face)
        errors.append(np.linalg.norm(points - truth, axis=1) / np.linalg.norm(truth[1] - truth[0]))
    assert np.median(errors) < tolerance, np.median(errors, axis=0)


def test_mesh_landmarks_follow_a_rotated_face(raw_image, landmarks_250):
    """The mesh crop is rotated to level the eyes: rotating the image rotates the five points with it."""
    import cv2

    name = NAMES[0]
    image = raw_image(name)
    rotation = cv2.getRotationMatrix2D((125, 125), 30, 1.0)
    rotated = cv2.warpAffine(image, rotation, (250, 250), borderMode=cv2.BORDER_REFLECT)
    detector, finder = FaceDetector("full"), LandmarkFinder("mesh")
    upright = finder.find(image, detector.detect(image)[0])
    turned = finder.find(rotated, detector.detect(rotated)[0])
    expected = upright @ rotation[:, :2].T + rotation[:, 2]
    eye_distance = np.linalg.norm(upright[1] - upright[0])
    assert np.abs(turned - expected).max() < 0.1 * eye_distance


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="--landmarks='dlib'"):
        LandmarkFinder("dlib")
    assert LandmarkFinder("keypoints").find(None, Detection(np.zeros(4), np.tile(TEMPLATE_112[:1], (6, 1)), 1.0)).shape == (5, 2)
