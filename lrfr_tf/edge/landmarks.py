"""The five ArcFace landmarks (both eyes, nose tip, mouth corners) of a detected face.

Two ways, chosen by ``method``:

* ``"mesh"`` (default): MediaPipe's 468-point face mesh (Kartynnik et al. 2019) on the detection's region as
  MediaPipe's face-landmark graph takes it (a square 1.5x the box, rotated so that the eyes are level, at
  192x192): eyes = centroids of the eye contours, nose tip = vertex 4, mouth corners = vertices 61 and 291.
  Against the MTCNN points of ``lfw/landmarks_250px.tsv`` (the points the aligned LFW faces were made with) the
  median error is 3-6% of the inter-ocular distance per point, and the embeddings of faces aligned on them
  reproduce those of the aligned LFW faces (cosine >= 0.95) for 98% of the 198 raw LFW images (full range).
* ``"keypoints"``: BlazeFace's own keypoints, no second network: the eyes and nose tip as given, the mouth
  corners placed on the mouth centre +- 0.414 x the eye-to-eye vector (the ratio of the template's mouth width to
  its eye distance, 29.18 / 35.24 / 2). Cheaper but coarser: 5-13% of the inter-ocular distance per point, and
  82% of the same faces reach cosine 0.95 (tests/edge/test_edge_parity.py; benchmarks/edge_small_faces.py compares
  both on small faces: the mesh is 0.6-14 points better at rank-1 at 16-24 px).
"""

from __future__ import annotations

import cv2
import numpy as np

from lrfr_tf.packaged_models import MESH_INPUT, FaceMesh, five_points

from .alignment import TEMPLATE_112
from .detector import Detection

METHODS = ("mesh", "keypoints")
#: Half the template's mouth width over its eye distance.
MOUTH_HALF_WIDTH_PER_EYE_DISTANCE = float(np.linalg.norm(TEMPLATE_112[4] - TEMPLATE_112[3])
                                          / np.linalg.norm(TEMPLATE_112[1] - TEMPLATE_112[0]) / 2)
#: The face-landmark region: the detection box's longer side times this, centred on the box.
MESH_REGION_SCALE = 1.5


def five_points_from_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """Five template-order points [5, 2] from BlazeFace's six keypoints (mouth corners approximated)."""
    right_eye, left_eye, nose, mouth = np.asarray(keypoints, np.float64)[:4]
    half = MOUTH_HALF_WIDTH_PER_EYE_DISTANCE * (left_eye - right_eye)
    return np.stack([right_eye, left_eye, nose, mouth - half, mouth + half])


def mesh_region(detection: Detection) -> np.ndarray:
    """2x3 matrix from image pixels to the 192x192 face-mesh crop of ``detection`` (eyes level)."""
    right_eye, left_eye = detection.keypoints[0], detection.keypoints[1]
    angle = float(np.arctan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0]))
    centre = (detection.box[:2] + detection.box[2:]) / 2.0
    side = float(max(detection.box[2] - detection.box[0], detection.box[3] - detection.box[1])) * MESH_REGION_SCALE
    scale = MESH_INPUT / max(side, 1e-6)
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    rotation = np.array([[c, s], [-s, c]])  # rotates by -angle, then scales
    return np.hstack([rotation, (MESH_INPUT / 2.0 - rotation @ centre)[:, None]])


class LandmarkFinder:
    """``find(image, detection)`` -> five template-order landmarks [5, 2] in image pixels."""

    def __init__(self, method: str = "mesh", num_threads: int = 1):
        if method not in METHODS:
            raise ValueError(f"--landmarks={method!r}: expected one of {', '.join(METHODS)}")
        self.method = method
        self._mesh = FaceMesh(num_threads=num_threads) if method == "mesh" else None

    def find(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        if self._mesh is None:
            return five_points_from_keypoints(detection.keypoints)
        to_crop = mesh_region(detection)
        crop = cv2.warpAffine(image, to_crop, (MESH_INPUT, MESH_INPUT), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        points, _ = self._mesh.run(crop)
        five = five_points(points)
        to_image = cv2.invertAffineTransform(to_crop)
        return five @ to_image[:, :2].T + to_image[:, 2]
