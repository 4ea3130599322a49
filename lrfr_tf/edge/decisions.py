"""Resolution-aware decisions: a threshold per face-size bucket, and "too small" below the smallest.

Face size. A face's size is its resolution in the units of the evaluation protocols and the calibration: the
side, in camera pixels, of the region the aligned 112x112 face covers (``face_px = 112 / c``, with c the scale of
the similarity transform that aligns its five landmarks; about 3.2 x the inter-ocular distance). A face whose
aligned crop comes from 16x16 camera pixels is a "16 px face", like an LFW face degraded with
``resolution(size=16)``. The command lines also print the inter-ocular distance and the detector's box height.

Buckets (``min_px <= face_px < max_px``) and thresholds come from the model's export metadata
(``thresholds`` rows ``{min_px, max_px, threshold, far}``, written by the calibration) when it has any; a row with
``threshold`` null abstains. Without them ``DEFAULT_THRESHOLDS`` applies, measured for the pretrained
MobileFaceNet by ``benchmarks/edge_default_thresholds.py`` (``results/edge/default_thresholds.json``) on CelebA, never
LFW: probes shrunk to a bucket's edges against 112 px gallery faces, the threshold at a false-accept rate of 1e-3
(the highest at the bucket's edges), and abstention where the true-accept rate at the bucket's lower edge is below
10%:

  =========  ===========  ===============================================
  face px    threshold    TAR at FAR 1e-3 at the lower edge (CelebA)
  =========  ===========  ===============================================
  < 12       too small
  12-16      too small    1.7% at 12 px (11.0% at 16 px)
  16-24      0.46         11.0%
  24-40      0.47         51.4%
  >= 40      0.48         82.4% (86.8% at 112 px)
  =========  ===========  ===============================================

Impostor similarities hardly move with size for this model (the FAR 1e-3 threshold is 0.45-0.48 from 12 to 112 px);
what collapses is the genuine similarity, so small faces mostly come out "unknown" rather than misnamed. Another
model needs its own table: calibrate it into its export metadata.

A face smaller than every row, or in a row without a threshold, is "too small"; larger than every row, the
last row's threshold applies. Answers: the gallery identity when the best similarity reaches the threshold,
else "unknown".
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Optional, Sequence

from lrfr_tf.model_metadata import Bucket, parse_thresholds  # noqa: F401  (re-exported: the edge API)

TOO_SMALL = "too small"
UNKNOWN = "unknown"
#: Width of the aligned template (pixels) that ``face_px`` refers to.
TEMPLATE_SIZE = 112.0


DEFAULT_THRESHOLDS = (
    Bucket(0, 12, None),
    Bucket(12, 16, None),
    Bucket(16, 24, 0.46, 1e-3),
    Bucket(24, 40, 0.47, 1e-3),
    Bucket(40, None, 0.48, 1e-3),
)


@dataclasses.dataclass(frozen=True)
class Decision:
    """``answer``: an identity, "unknown" or "too small"; ``similarity`` to the best gallery entry (None when
    not compared); ``threshold`` used (None when abstaining); ``bucket`` the face fell in."""

    answer: str
    similarity: Optional[float]
    threshold: Optional[float]
    bucket: Optional[Bucket]


def thresholds_from_metadata(metadata: Optional[Dict[str, Any]]) -> tuple:
    """(buckets, source): the calibrated rows of an export's metadata ("metadata"), else the defaults ("default")."""
    rows = (metadata or {}).get("thresholds") or []
    if rows:
        return parse_thresholds(rows, "model metadata thresholds"), "metadata"
    return list(DEFAULT_THRESHOLDS), "default"


def face_px(alignment_matrix) -> float:
    """The face's resolution: camera pixels spanned by the aligned template (``112 / scale`` of the 2x3
    similarity that aligns it)."""
    a, b = alignment_matrix[0][0], alignment_matrix[0][1]
    return TEMPLATE_SIZE / max(math.hypot(a, b), 1e-12)


def bucket_for(size_px: float, buckets: Sequence[Bucket]) -> Optional[Bucket]:
    """The bucket holding ``size_px``; the last one above every bucket; None below every bucket or in a gap."""
    for bucket in buckets:
        if bucket.contains(size_px):
            return bucket
    if buckets and buckets[-1].max_px is not None and size_px >= buckets[-1].max_px:
        return buckets[-1]
    return None


def decide(size_px: float, best_name: Optional[str], best_similarity: Optional[float],
           buckets: Sequence[Bucket]) -> Decision:
    """The answer for one face of ``size_px`` whose best gallery match is ``best_name`` at ``best_similarity``
    (None, None: an empty gallery)."""
    bucket = bucket_for(size_px, buckets)
    if bucket is None or bucket.threshold is None:
        return Decision(TOO_SMALL, best_similarity, None, bucket)
    if best_name is None or best_similarity is None or best_similarity < bucket.threshold:
        return Decision(UNKNOWN, best_similarity, bucket.threshold, bucket)
    return Decision(best_name, best_similarity, bucket.threshold, bucket)
