"""The on-camera pipeline: detect -> five landmarks -> align -> embed -> match -> decide, on LiteRT.

Imports only ai-edge-litert, NumPy, OpenCV and TensorFlow-free parts of lrfr_tf (tested with TensorFlow made
unimportable). One module per concern:

  * :mod:`.detector`: MediaPipe BlazeFace short / full range (Bazarevsky et al. 2019): anchors, decoding,
    weighted NMS, letterboxing and optional tiling for small faces;
  * :mod:`.landmarks`: the five ArcFace points from the 468-point face mesh or from BlazeFace's keypoints;
  * :mod:`.alignment`: Umeyama's least-squares similarity (1991) onto the ArcFace 112x112 template, one warp;
  * :mod:`.embedder`: any .tflite embedder with its input contract (export metadata or ``--preprocessing``);
  * :mod:`.decisions`: face-size buckets, thresholds, "unknown" and "too small";
  * :mod:`.gallery`: the versioned ``.npz`` gallery tied to a model's sha256, matched with ``lrfr_tf.search``;
  * :mod:`.inputs`: images (any channel layout), folders, videos;
  * :mod:`.pipeline`: :class:`EdgePipeline`, the stages together, timed;
  * ``python -m lrfr_tf.edge enroll|identify``: the command lines.
"""

from .alignment import align, template_for, umeyama
from .decisions import DEFAULT_THRESHOLDS, Bucket, Decision, decide, face_px, parse_thresholds
from .detector import MODELS, Detection, FaceDetector
from .embedder import TFLiteEmbedder
from .gallery import Gallery, load_gallery
from .landmarks import LandmarkFinder
from .edge_pipeline import STAGES, EdgePipeline, Face

__all__ = [
    "Bucket", "DEFAULT_THRESHOLDS", "Decision", "Detection", "EdgePipeline", "Face", "FaceDetector", "Gallery",
    "LandmarkFinder", "MODELS", "STAGES", "TFLiteEmbedder", "align", "decide", "face_px", "load_gallery",
    "parse_thresholds", "template_for", "umeyama",
]
