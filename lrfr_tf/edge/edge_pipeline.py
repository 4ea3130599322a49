"""The on-camera pipeline: detect -> five landmarks -> align -> embed -> match -> decide, timed per stage."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import time
from typing import Dict, List, Optional

import numpy as np

from . import decisions
from .alignment import align
from .detector import DEFAULT_TILE_SIZE, Detection, FaceDetector
from .embedder import TFLiteEmbedder
from .gallery import Gallery
from .landmarks import LandmarkFinder

STAGES = ("detect", "landmarks", "align", "embed", "match")


@dataclasses.dataclass
class Face:
    """One face of a frame: where, how big, and (with a gallery) who."""

    box: np.ndarray  # x0, y0, x1, y1 (image pixels)
    score: float
    landmarks: np.ndarray  # [5, 2] template order
    matrix: np.ndarray  # 2x3 image -> model input
    face_px: float
    inter_ocular_px: float
    embedding: Optional[np.ndarray] = None
    decision: Optional[decisions.Decision] = None

    @property
    def box_height_px(self) -> float:
        return float(self.box[3] - self.box[1])

    def as_dict(self) -> Dict:
        d = self.decision
        return {
            "box": [round(float(v), 1) for v in self.box], "detector_score": round(self.score, 4),
            "inter_ocular_px": round(self.inter_ocular_px, 1), "box_height_px": round(self.box_height_px, 1),
            "face_px": round(self.face_px, 1),
            "answer": None if d is None else d.answer,
            "similarity": None if d is None or d.similarity is None else round(d.similarity, 4),
            "threshold": None if d is None else d.threshold,
            "bucket": None if d is None or d.bucket is None else [d.bucket.min_px, d.bucket.max_px],
        }


class StageTimer:
    """Seconds spent per stage: ``seconds[stage]`` lists the duration of every ``with timer.time(stage):``."""

    def __init__(self):
        self.seconds = collections.defaultdict(list)

    @contextlib.contextmanager
    def time(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage].append(time.perf_counter() - start)


class EdgePipeline:
    """Detector, landmark finder and embedder for one model; ``process(rgb)`` -> [Face], best detection first.

    ``gallery`` (optional) and ``thresholds`` (buckets; default: the model metadata's, else the defaults of
    ``lrfr_tf.edge.decisions``) turn faces into decisions.
    """

    def __init__(self, model: str, detector: str = "full", landmarks: str = "mesh", num_threads: int = 1,
                 preprocessing=None, tile_size: int = DEFAULT_TILE_SIZE, min_score: float | None = None):
        self.embedder = TFLiteEmbedder(model, preprocessing, num_threads)
        self.detector = FaceDetector(detector, num_threads, tile_size=tile_size, min_score=min_score)
        self.landmarks = LandmarkFinder(landmarks, num_threads)
        self.thresholds, self.thresholds_source = decisions.thresholds_from_metadata(self.embedder.metadata)
        self.timer = StageTimer()

    def faces(self, image: np.ndarray, detections: List[Detection] | None = None) -> List[Face]:
        """Detected (or given) faces of an RGB uint8 image, aligned and embedded, without decisions."""
        if detections is None:
            with self.timer.time("detect"):
                detections = self.detector.detect(image)
        faces, crops = [], []
        for det in detections:
            with self.timer.time("landmarks"):
                points = self.landmarks.find(image, det)
            with self.timer.time("align"):
                crop, matrix = align(image, points, self.embedder.preprocessing)
            crops.append(crop)
            faces.append(Face(box=det.box, score=det.score, landmarks=points, matrix=matrix,
                              face_px=decisions.face_px(matrix),
                              inter_ocular_px=float(np.linalg.norm(points[1] - points[0]))))
        if faces:
            with self.timer.time("embed"):
                embeddings = self.embedder.embed(np.stack(crops))
            for face, embedding in zip(faces, embeddings):
                face.embedding = embedding
        return faces

    def identify(self, image: np.ndarray, gallery: Gallery) -> List[Face]:
        """``faces`` with each one's decision against ``gallery``."""
        faces = self.faces(image)
        with self.timer.time("match"):
            matches = gallery.best_match(np.stack([f.embedding for f in faces])) if faces else []
            for face, (name, similarity) in zip(faces, matches):
                face.decision = decisions.decide(face.face_px, name, similarity, self.thresholds)
        return faces
