"""Per-resolution verification thresholds: calibrate on LFW View 1, check on View 2.

A deployed embedder compares a probe face of some size against a gallery face enrolled at full resolution.
One threshold for every size does not hold its false-accept rate: a model's impostor similarities move as the
probe shrinks (a distilled model maps tiny faces closer together), so a 112 px threshold accepts far more
impostors at 8 px, or rejects nearly every true match. Here each face-size bucket gets its own threshold.

Effective resolution: the face's size as given (the edge pipeline measures it from the detection,
``lrfr_tf.edge.decisions.face_px``). Bucket ``[min_px, max_px)`` is represented by its ``sizes``: probes are
shrunk to each of them (the harness's ``ResolutionDegradation``) and pooled.

Calibration (``calibrate``), on View 1 only (``pairsDevTrain.txt`` + ``pairsDevTest.txt``; View 2 is test
data and is refused): every View 1 image is a probe at each bucket size and a gallery face at 112 px. Impostor
scores are every probe against every gallery image of another identity (millions of pairs, so FAR 1e-3 rests
on thousands of false accepts, not one); genuine scores are every probe against the other images of its
identity. The bucket's threshold at FAR f is ``impostor_threshold`` of the pooled impostor scores: the same
rule as ``verification.tar_at_far`` (accept ``score > t``, at most floor(f * #impostors) accepted). A bucket
abstains ("too small to decide", threshold None) when its View 1 TAR at that threshold is below
``abstain_below_tar`` (default ``ABSTAIN_BELOW_TAR`` = 10%: nine in ten true matches would be "unknown"
anyway, so an answer is mostly noise). The single global threshold it is compared with is the one a
deployment sets without calibration: the same FAR rule on View 1 at 112 px against 112 px.

Check (``evaluate_thresholds``), on View 2 (``pairs.txt``): per bucket and size, cross-resolution pairs (one
face at the size, the other at 112 px, both flips pooled); achieved FAR and TAR with the global threshold and
with the bucket's calibrated one (an abstaining bucket accepts nothing: TAR 0, and counts as abstained), and
the View 2 oracle TAR at the target FAR for reference.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

import numpy as np

from lrfr_tf.data.pairs import read_pairs, unique_paths
from lrfr_tf.eval.verification import tar_at_far

if TYPE_CHECKING:
    from lrfr_tf.eval.cache import EmbeddingCache
    from lrfr_tf.eval.degradation import ResolutionDegradation
    from lrfr_tf.eval.embedders import Embedder
    from lrfr_tf.eval.lfw import PairsData

# The embedding side (TensorFlow) is imported where it is used, so the CLI checks its flags before loading it.

#: LFW View 1 (training and development-test pairs): the only pairs thresholds are chosen on.
CALIBRATION_PAIRS = ("pairsDevTrain.txt", "pairsDevTest.txt")
#: LFW View 2: test only; refused as calibration data.
TEST_PAIRS = "pairs.txt"
#: Gallery (enrolment) resolution and the global threshold's probe size.
HR_SIZE = 112
#: A bucket whose calibration TAR at the target FAR is below this abstains.
ABSTAIN_BELOW_TAR = 0.10
FARS = (1e-2, 1e-3)


@dataclasses.dataclass(frozen=True)
class SizeBucket:
    """Faces with ``min_px <= size < max_px`` (None: no upper bound), calibrated at ``sizes`` (px)."""

    min_px: int
    max_px: Optional[int]
    sizes: tuple

    def __post_init__(self):
        if not self.sizes or any(s < self.min_px or (self.max_px is not None and s >= self.max_px) for s in self.sizes):
            raise ValueError(f"bucket [{self.min_px}, {self.max_px}): sizes {list(self.sizes)} must lie inside it")

    @property
    def name(self) -> str:
        return f"{self.min_px}-{self.max_px - 1}px" if self.max_px is not None else f">={self.min_px}px"


#: Below 5 px no bucket: "too small" (the pretrained model is at chance there, and so is every model here).
DEFAULT_BUCKETS = (
    SizeBucket(5, 8, (5, 6, 7)),
    SizeBucket(8, 12, (8, 10)),
    SizeBucket(12, 16, (12, 14)),
    SizeBucket(16, 24, (16, 20)),
    SizeBucket(24, 40, (24, 32)),
    SizeBucket(40, None, (40, 64, 112)),
)


def impostor_threshold(impostor_scores: np.ndarray, far: float) -> float:
    """Threshold t accepting ``score > t`` with at most floor(far * n) of the n impostor scores above it: the
    (m+1)-th largest score, m = floor(far * n) (``verification.tar_at_far``'s rule, without sorting them all)."""
    s = np.asarray(impostor_scores).reshape(-1)
    if s.size == 0:
        raise ValueError("impostor_threshold needs impostor scores")
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"far must be in [0, 1], got {far}")
    m = int(np.floor(far * s.size + 1e-9))
    if m >= s.size:
        return -np.inf
    k = s.size - 1 - m  # ascending position of the (m+1)-th largest
    return float(np.partition(s, k)[k])


def check_calibration_pairs(pairs_files: Sequence[str]) -> None:
    """ValueError unless every file is a View 1 file: LFW View 2 (``pairs.txt``) is test data."""
    for name in pairs_files:
        if os.path.basename(str(name).strip()) == TEST_PAIRS:
            raise ValueError(f"{name}: {TEST_PAIRS} is LFW View 2, test data; calibrate on View 1 "
                             f"({', '.join(CALIBRATION_PAIRS)})")


class LabelledImages:
    """The distinct images of LFW-format pairs files, with identities (the image's folder)."""

    def __init__(self, data_dir: str, pairs_files: Sequence[str] = CALIBRATION_PAIRS, images_subdir: str = "aligned112"):
        check_calibration_pairs(pairs_files)
        paths: List[str] = []
        for name in pairs_files:
            path = name if os.path.isfile(name) else os.path.join(data_dir, name)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{path}: no such pairs file")
            paths.extend(unique_paths(read_pairs(path)))
        paths = sorted(set(paths))
        from lrfr_tf.eval.imageset import ImageSet

        self.pairs_files = list(pairs_files)
        self.image_set = ImageSet(os.path.join(data_dir, images_subdir), paths, source=", ".join(pairs_files))
        names = [p.split("/")[0] for p in paths]
        _, self.identities = np.unique(names, return_inverse=True)

    def describe(self) -> Dict[str, Any]:
        return {"pairs_files": self.pairs_files, "num_images": len(self.image_set),
                "num_identities": int(self.identities.max()) + 1 if len(self.image_set) else 0,
                "images_sha256": self.image_set.data_hash}


def _scores(probe: np.ndarray, gallery: np.ndarray, identities: np.ndarray):
    """(genuine, impostor) cosine scores of every probe against every gallery image (same image excluded)."""
    sim = probe @ gallery.T
    same = identities[:, None] == identities[None, :]
    np.fill_diagonal(same, False)
    other = identities[:, None] != identities[None, :]
    return sim[same], sim[other]


def calibrate(embedder: Embedder, images: LabelledImages, buckets: Sequence[SizeBucket] = DEFAULT_BUCKETS,
              fars: Sequence[float] = FARS, abstain_below_tar: float = ABSTAIN_BELOW_TAR,
              degradation: Optional[ResolutionDegradation] = None, cache: Optional[EmbeddingCache] = None,
              progress: bool = True) -> Dict[str, Any]:
    """Per-bucket thresholds at each FAR in ``fars`` and the global (112 px) one, from View 1 (module docstring)."""
    from lrfr_tf.eval.cache import EmbeddingCache
    from lrfr_tf.eval.degradation import ResolutionDegradation
    from lrfr_tf.eval.imageset import embed_images

    degradation = degradation or ResolutionDegradation()
    cache = cache if cache is not None else EmbeddingCache()
    indices = np.arange(len(images.image_set))
    ids = images.identities

    def embed(size):
        return embed_images(embedder, images.image_set, indices, size, degradation, cache, progress).astype(np.float32)

    gallery = embed(HR_SIZE)
    hr_genuine, hr_impostor = _scores(gallery, gallery, ids)
    result: Dict[str, Any] = {
        "data": images.describe(), "gallery_size": HR_SIZE, "abstain_below_tar": abstain_below_tar,
        "fars": [float(f) for f in fars], "global": {}, "buckets": [],
    }
    for far in fars:
        t = impostor_threshold(hr_impostor, far)
        result["global"][str(far)] = {"threshold": t, "tar": float(np.mean(hr_genuine > t)),
                                      "num_impostor": int(hr_impostor.size), "num_genuine": int(hr_genuine.size)}
    for bucket in buckets:
        genuine, impostor = zip(*(_scores(embed(s), gallery, ids) for s in bucket.sizes))
        genuine, impostor = np.concatenate(genuine), np.concatenate(impostor)
        row: Dict[str, Any] = {"bucket": bucket.name, "min_px": bucket.min_px, "max_px": bucket.max_px,
                               "sizes": list(bucket.sizes), "num_impostor": int(impostor.size),
                               "num_genuine": int(genuine.size), "by_far": {}}
        for far in fars:
            t = impostor_threshold(impostor, far)
            tar = float(np.mean(genuine > t))
            t_global = result["global"][str(far)]["threshold"]
            row["by_far"][str(far)] = {"threshold": t, "tar": tar, "abstain": tar < abstain_below_tar,
                                       "global_far": float(np.mean(impostor > t_global)),
                                       "global_tar": float(np.mean(genuine > t_global))}
        result["buckets"].append(row)
    return result


def metadata_rows(calibration: Dict[str, Any], far: float) -> List[Dict[str, Any]]:
    """The export metadata's ``thresholds`` rows at ``far``: ``{min_px, max_px, threshold, far, tar}``, threshold
    None for an abstaining bucket (``model_metadata.parse_thresholds`` reads them)."""
    key = str(float(far))
    if key not in calibration["global"]:
        raise ValueError(f"far {far} was not calibrated (calibrated: {calibration['fars']})")
    rows = []
    for b in calibration["buckets"]:
        at = b["by_far"][key]
        rows.append({"min_px": b["min_px"], "max_px": b["max_px"], "threshold": None if at["abstain"] else round(at["threshold"], 6),
                     "far": float(far), "tar": round(at["tar"], 6)})
    return rows


def evaluate_thresholds(embedder: Embedder, test_pairs: PairsData, calibration: Dict[str, Any],
                        degradation: Optional[ResolutionDegradation] = None, cache: Optional[EmbeddingCache] = None,
                        progress: bool = True) -> List[Dict[str, Any]]:
    """Per bucket: View 2 achieved FAR and TAR with the global and the calibrated threshold at each FAR."""
    from lrfr_tf.eval.cache import EmbeddingCache
    from lrfr_tf.eval.degradation import ResolutionDegradation
    from lrfr_tf.eval.lfw import pair_scores

    degradation = degradation or ResolutionDegradation()
    cache = cache if cache is not None else EmbeddingCache()
    n = test_pairs.num_pairs
    hr = np.full(n, HR_SIZE)
    out = []
    for b in calibration["buckets"]:
        scores, labels = [], []
        for s in b["sizes"]:
            probe = np.full(n, int(s))
            for s1, s2 in ((probe, hr), (hr, probe)):
                scores.append(pair_scores(embedder, test_pairs, s1, s2, degradation, cache, progress))
                labels.append(test_pairs.labels)
        scores, labels = np.concatenate(scores), np.concatenate(labels)
        pos, neg = scores[labels], scores[~labels]
        row: Dict[str, Any] = {"bucket": b["bucket"], "sizes": b["sizes"], "num_positive": int(pos.size),
                               "num_negative": int(neg.size), "by_far": {}}
        for key, at in b["by_far"].items():
            t_global = calibration["global"][key]["threshold"]
            t = at["threshold"]
            oracle_tar, _ = tar_at_far(scores, labels, float(key))
            row["by_far"][key] = {
                "global": {"threshold": t_global, "far": float(np.mean(neg > t_global)), "tar": float(np.mean(pos > t_global))},
                "calibrated": {"threshold": None if at["abstain"] else t, "abstain": at["abstain"],
                               "far": 0.0 if at["abstain"] else float(np.mean(neg > t)),
                               "tar": 0.0 if at["abstain"] else float(np.mean(pos > t)),
                               "tar_if_answered": float(np.mean(pos > t)), "far_if_answered": float(np.mean(neg > t))},
                "oracle_tar": oracle_tar,
            }
        out.append(row)
    return out


def markdown(calibration: Dict[str, Any], test: Optional[List[Dict[str, Any]]] = None) -> str:
    """Tables: the calibrated thresholds (View 1) and, with ``test``, View 2 FAR/TAR global vs calibrated."""
    lines = []
    for key in calibration["global"]:
        g = calibration["global"][key]
        lines += [f"### FAR {float(key):g}: global threshold {g['threshold']:.4f} (View 1, 112 px vs 112 px)", "",
                  "| bucket | calibrated threshold (View 1) | View 1 TAR | View 1 FAR with the global threshold |"
                  + (" View 2 FAR global | View 2 TAR global | View 2 FAR calibrated | View 2 TAR calibrated | View 2 oracle TAR |"
                     if test else ""),
                  "|---|---|---|---|" + ("---|---|---|---|---|" if test else "")]
        for i, b in enumerate(calibration["buckets"]):
            at = b["by_far"][key]
            t = "abstain" if at["abstain"] else f"{at['threshold']:.4f}"
            line = f"| {b['bucket']} | {t} | {100 * at['tar']:.2f} | {at['global_far']:.2e} |"
            if test:
                v = test[i]["by_far"][key]
                cal = ("abstain" if v["calibrated"]["abstain"] else f"{v['calibrated']['far']:.2e}",
                       "abstain" if v["calibrated"]["abstain"] else f"{100 * v['calibrated']['tar']:.2f}")
                line += (f" {v['global']['far']:.2e} | {100 * v['global']['tar']:.2f} | {cal[0]} | {cal[1]} |"
                         f" {100 * v['oracle_tar']:.2f} |")
            lines.append(line)
        lines.append("")
    return "\n".join(lines)


def plot(calibration: Dict[str, Any], test: Optional[List[Dict[str, Any]]], path: str) -> None:
    """Per bucket: the thresholds, and (with ``test``) View 2 FAR against the target, global vs calibrated."""
    from lrfr_tf.eval.reports import _pyplot

    plt = _pyplot()
    names = [b["bucket"] for b in calibration["buckets"]]
    x = np.arange(len(names))
    fig, axes = plt.subplots(1, 2 if test else 1, figsize=(12 if test else 6, 4), squeeze=False)
    ax = axes[0][0]
    for key in calibration["global"]:
        ts = [np.nan if b["by_far"][key]["abstain"] else b["by_far"][key]["threshold"] for b in calibration["buckets"]]
        line, = ax.plot(x, ts, "o-", label=f"calibrated, FAR {float(key):g}")
        ax.axhline(calibration["global"][key]["threshold"], color=line.get_color(), ls="--", label=f"global, FAR {float(key):g}")
    ax.set_xticks(x, names)
    ax.set_ylabel("cosine threshold (View 1)")
    ax.set_xlabel("probe face size")
    ax.legend(fontsize=8)
    if test:
        ax = axes[0][1]
        for key in calibration["global"]:
            g = [max(r["by_far"][key]["global"]["far"], 1e-5) for r in test]
            c = [max(r["by_far"][key]["calibrated"]["far_if_answered"], 1e-5) for r in test]
            line, = ax.plot(x, g, "s--", label=f"global threshold, target {float(key):g}")
            ax.plot(x, c, "o-", color=line.get_color(), label=f"calibrated, target {float(key):g}")
            ax.axhline(float(key), color=line.get_color(), lw=0.5)
        ax.set_yscale("log")
        ax.set_xticks(x, names)
        ax.set_ylabel("achieved FAR on View 2")
        ax.set_xlabel("probe face size")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
