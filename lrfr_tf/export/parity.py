"""The export parity gate: an export must compute the source model's function at every resolution.

Two checks per exported format, both against the source model run in the same process:

1. Per-image cosine between source and export embeddings of the first ``num_faces`` (500) faces of the
   gate set at 112 px and degraded to 8, 14 and 28 px (the harness's bicubic down/up-sampling, rounded
   to uint8 so that the SavedModel's uint8 serving signature sees exactly what the source sees).
   The SavedModel is called through ``serving_default`` (in-graph crop/resize/normalisation), a
   .tflite through the harness's preparation (``prepare_images``) and LiteRT.
2. 10-fold verification accuracy through the evaluation harness on the gate set's pairs at full
   resolution (``hr``) and on the low-resolution protocol (the published ``low_res_focus`` when the
   gate set has ``protocols/low_res_focus.csv``, else cross-resolution 8 px), compared to the source.

Limits (``GATES``): SavedModel and fp32 min cosine >= 0.99999, fp16 >= 0.9999, dynamic >= 0.999,
int8 mean >= 0.98 and 1st percentile >= 0.95; accuracy within 0.05 / 0.1 points (hr / low-res) of
the source for the float formats (SavedModel, fp32, fp16) and 0.3 / 1.0 for the quantised ones
(dynamic, int8). Accuracy figures are fractions in [0, 1]; limits are in points (x 100). One pair is
the finest difference a gate set can show (100 / pairs points: 0.5 on the packaged 200-pair sample,
0.017 on LFW's 6,000), so an accuracy limit below it is raised to it and the report says so; gate on the
full LFW (``--gate_data``) to hold the limits as written.

An accuracy change beyond its limit fails the gate only when it is systematic: at the source's fold
thresholds the export decides some pairs differently from the source, and the exact paired sign test
(McNemar) on those discordant pairs must reject "as many each way" at ``ALPHA`` (0.05). A model near
chance (a smoke-trained one) has every score near its threshold, so a faithful conversion (cosine 0.9999)
still flips a few pairs both ways and moves the 10-fold accuracy by 1-2 points on the 200-pair sample; on
the full LFW a real loss of the limit's size (60 pairs at 1 point) is far beyond the test's noise.
The pairs are compared at the source's thresholds, not each model's own, because a near-chance model's best
threshold jumps between distant optima when its scores move by 0.01: measured on st_m1's smoke export (2-fold
packaged sample, CR 8 px), one fold's threshold went from 0.624 to 0.688 and flipped 8 positive pairs at once,
one event that a test over pairs would count as 8 independent ones (9 vs 0, p = 0.004); at the source's
thresholds the same export decides only the pairs whose own score crossed a threshold. When
the source's per-pair decisions are not at hand (``source_accuracy`` given), the limits apply as written.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

PARITY_SIZES = (112, 8, 14, 28)
ALPHA = 0.05  # significance of the paired sign test under which an accuracy change fails the gate


@dataclasses.dataclass(frozen=True)
class Gate:
    min_cosine: Optional[float] = None  # every image
    mean_cosine: Optional[float] = None
    p1_cosine: Optional[float] = None  # 1st percentile
    max_delta_hr: float = 0.05  # accuracy points
    max_delta_low_res: float = 0.1


_FLOAT = dict(max_delta_hr=0.05, max_delta_low_res=0.1)
_QUANT = dict(max_delta_hr=0.3, max_delta_low_res=1.0)
GATES: Dict[str, Gate] = {
    "saved_model": Gate(min_cosine=0.99999, **_FLOAT),
    "tflite_fp32": Gate(min_cosine=0.99999, **_FLOAT),
    "tflite_fp16": Gate(min_cosine=0.9999, **_FLOAT),
    "tflite_dynamic": Gate(min_cosine=0.999, **_QUANT),
    "tflite_int8": Gate(mean_cosine=0.98, p1_cosine=0.95, **_QUANT),
}


class GateData:
    """An LFW-format folder (``aligned112/``, ``pairs.txt``, optional ``protocols/``) for the gate."""

    def __init__(self, root: str, num_faces: int = 500, pairs_file: str = "pairs.txt"):
        from lrfr_tf.eval import protocols as P
        from lrfr_tf.eval.lfw import PairsData

        self.root = root
        self.pairs = PairsData(root, pairs_file)
        n = self.pairs.num_pairs
        self.protocols = [P.hr_protocol(n)]
        csv = os.path.join(root, "protocols", "low_res_focus.csv")
        if os.path.isfile(csv):
            self.protocols.append(P.from_sizes(P.PUBLISHED["low_res_focus"], P.read_protocol(csv, n), source="protocols/low_res_focus.csv"))
        else:
            self.protocols.append(P.cross_resolution(n, 8))
        self.num_faces = min(int(num_faces), len(self.pairs.image_set))

    @property
    def low_res_name(self) -> str:
        return self.protocols[1].name

    def faces(self) -> np.ndarray:
        return self.pairs.image_set.images(False)[: self.num_faces]

    def describe(self) -> Dict[str, object]:
        return {"root": self.root, "pairs_sha256": self.pairs.describe()["pairs_sha256"],
                "num_pairs": self.pairs.num_pairs, "num_faces": self.num_faces,
                "protocols": [p.name for p in self.protocols], "sizes": list(PARITY_SIZES)}


def degraded_faces(faces: np.ndarray, sizes: Sequence[int] = PARITY_SIZES) -> Dict[int, np.ndarray]:
    """{size: uint8 faces at the image size, bicubic-degraded to ``size`` px and rounded}."""
    from lrfr_tf.eval.degradation import ResolutionDegradation

    degrade = ResolutionDegradation(round_to_uint8=True)
    return {int(s): np.clip(degrade(faces, int(s)), 0, 255).astype(np.uint8) for s in sizes}  # already rounded


def cosine_stats(a: np.ndarray, b: np.ndarray) -> Dict[str, float]:
    """Row cosine of L2-normalised embeddings: mean, min, 1st percentile."""
    cos = np.sum(a.astype(np.float64) * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return {"mean": float(cos.mean()), "min": float(cos.min()), "p1": float(np.percentile(cos, 1))}


def accuracies(embedder, data: GateData, progress: bool = False, decisions: Optional[Dict[str, np.ndarray]] = None,
               thresholds: Optional[Dict[str, list]] = None, at_thresholds: Optional[Dict[str, list]] = None
               ) -> Dict[str, float]:
    """{protocol: 10-fold accuracy}; ``decisions`` (a dict) receives {protocol: per-pair correctness, mean
    over the protocol's flips}, for ``check``'s paired test, and ``thresholds`` (a dict) {protocol: [per-fold
    thresholds of each flip]}. With ``at_thresholds`` (another model's ``thresholds``, the source's) the
    decisions are taken at those thresholds, the accuracy still at the embedder's own."""
    from lrfr_tf.eval.cache import EmbeddingCache
    from lrfr_tf.eval.lfw import evaluate_verification
    from lrfr_tf.eval.verification import kfold_correct

    results, scores = evaluate_verification(embedder, data.pairs, data.protocols, cache=EmbeddingCache(), progress=progress)
    for name, flips in (scores.items() if decisions is not None or thresholds is not None else ()):
        given = at_thresholds[name] if at_thresholds and name in at_thresholds else [None] * len(flips)
        runs = [kfold_correct(sc, data.pairs.labels, data.pairs.folds, t) for sc, t in zip(flips, given)]
        if decisions is not None:
            decisions[name] = np.mean([r[0] for r in runs], axis=0)
        if thresholds is not None:
            thresholds[name] = [r[2] for r in runs]
    return {name: float(r["accuracy"]) for name, r in results.items()}


def check(fmt: str, cosines: Dict[int, Dict[str, float]], acc: Dict[str, float], source_acc: Dict[str, float],
          low_res_name: str, num_pairs: Optional[int] = None, decisions: Optional[Dict[str, np.ndarray]] = None,
          source_decisions: Optional[Dict[str, np.ndarray]] = None, notes: Optional[List[str]] = None) -> List[str]:
    """Failure messages of ``fmt`` against ``GATES[fmt]`` (empty: passed); accuracy limits no finer than one
    of ``num_pairs`` pairs (``pair_resolution``). With both models' per-pair ``decisions`` (``accuracies``),
    a change beyond its limit fails only if the paired sign test finds it systematic (p < ``ALPHA``); one
    that does not is explained in ``notes``."""
    from lrfr_tf.eval.verification import paired_sign_test

    gate = GATES[fmt]
    floor = pair_resolution(num_pairs)
    failures = []
    for size, s in cosines.items():
        if gate.min_cosine is not None and s["min"] < gate.min_cosine:
            failures.append(f"{size} px: min cosine {s['min']:.6f} < {gate.min_cosine}")
        if gate.mean_cosine is not None and s["mean"] < gate.mean_cosine:
            failures.append(f"{size} px: mean cosine {s['mean']:.4f} < {gate.mean_cosine}")
        if gate.p1_cosine is not None and s["p1"] < gate.p1_cosine:
            failures.append(f"{size} px: 1st-percentile cosine {s['p1']:.4f} < {gate.p1_cosine}")
    for name, limit in (("hr", gate.max_delta_hr), (low_res_name, gate.max_delta_low_res)):
        limit = max(limit, floor)
        delta = 100.0 * abs(acc[name] - source_acc[name])
        if delta <= limit + 1e-9:
            continue
        message = f"{name}: accuracy {100 * acc[name]:.2f} vs source {100 * source_acc[name]:.2f} (|delta| {delta:.2f} > {limit} points"
        if decisions and source_decisions and name in decisions and name in source_decisions:
            test = paired_sign_test(source_decisions[name], decisions[name])
            message += (f"; pairs decided differently at the source's thresholds: {test['a_better']} for the source, "
                        f"{test['b_better']} for the export, sign test p = {test['p_value']:.3g}")
            if test["p_value"] >= ALPHA:
                if notes is not None:
                    notes.append(message + f" >= {ALPHA}: not systematic, passed)")
                continue
        failures.append(message + ")")
    return failures


@dataclasses.dataclass
class Candidate:
    """One export under the gate: ``embedder`` (a harness embedder) gives its accuracies and, unless
    ``embed_faces`` is given (uint8 faces -> embeddings, e.g. a SavedModel's serving signature), its
    per-image embeddings; it is held to ``GATES[gate_format]``."""
    embedder: object
    gate_format: str
    embed_faces: Optional[Callable[[np.ndarray], np.ndarray]] = None


def run_gate(source, candidates: Dict[str, Candidate], data: GateData, source_accuracy: Optional[Dict[str, float]] = None,
             log: Callable[[str], None] = print, on_stage: Optional[Callable[[Dict[str, object]], None]] = None,
             progress: bool = False) -> Dict[str, object]:
    """The gate report of every candidate against ``source`` (an ``ExportSource``) on ``data``.

    Stages: the per-image cosines of every candidate, then each candidate's accuracies; ``on_stage(report)``
    runs after each, so a long run keeps what it has measured. ``source_accuracy``: the source's accuracies on
    ``data`` measured before (only the candidates then go through the harness); None measures them here."""
    from lrfr_tf.eval.embedders import KerasEmbedder

    if data is None:
        raise ValueError("the parity gate needs gate data (an LFW-format folder)")
    faces = degraded_faces(data.faces())
    # One path, as exported: a model with a gallery path (the SR composites embed full-resolution faces with the
    # recognizer alone in the harness) is exported as its probe path only, so that is what the export must match.
    reference = KerasEmbedder(source.model, source.preprocessing, name=source.name, gallery_path=False)
    ref_emb = {s: reference.embed(x) for s, x in faces.items()}
    measured = source_accuracy is None
    source_decisions: Dict[str, np.ndarray] = {}
    source_thresholds: Dict[str, list] = {}
    source_acc = (accuracies(reference, data, progress, source_decisions, source_thresholds) if measured
                  else dict(source_accuracy))
    log("gate: source " + ", ".join(f"{k} {100 * v:.2f}" for k, v in source_acc.items()))
    report = {"source": {"name": source.name, "accuracy": source_acc, "accuracy_measured_here": measured,
                         "gallery_path": "not exported: every face goes through the probe path"
                         if callable(getattr(source.model, "gallery_model", None)) else "same as probe"},
              "data": data.describe(), "formats": {}, "passed": False}
    for name, c in candidates.items():
        embed = c.embed_faces or c.embedder.embed
        cos = {s: cosine_stats(ref_emb[s], embed(x)) for s, x in faces.items()}
        report["formats"][name] = {"cosine": {str(s): v for s, v in cos.items()}, "accuracy": None,
                                   "gate": c.gate_format, "limits": GATES[c.gate_format].__dict__,
                                   "accuracy_limit_floor_points": pair_resolution(data.pairs.num_pairs)}
        log(f"gate: {name}: mean cosine " + "/".join(f"{v['mean']:.5f}" for v in cos.values()))
        if on_stage:
            on_stage(report)
    for name, c in candidates.items():
        r = report["formats"][name]
        decisions: Dict[str, np.ndarray] = {}
        r["accuracy"] = accuracies(c.embedder, data, progress, decisions, at_thresholds=source_thresholds)
        cos = {int(s): v for s, v in r["cosine"].items()}
        r["notes"] = []
        r["failures"] = check(c.gate_format, cos, r["accuracy"], source_acc, data.low_res_name, data.pairs.num_pairs,
                              decisions, source_decisions, r["notes"])
        r["passed"] = not r["failures"]
        log(f"gate: {name}: " + ("ok" if r["passed"] else "FAILED " + "; ".join(r["failures"]))
            + "".join(f" (note: {n})" for n in r["notes"]))
        if on_stage:
            on_stage(report)
    report["passed"] = all(r["passed"] for r in report["formats"].values())
    return report


def pair_resolution(num_pairs: Optional[int]) -> float:
    """Accuracy points one pair is worth in 10-fold accuracy over ``num_pairs`` pairs (0 when unknown)."""
    return 100.0 / num_pairs if num_pairs else 0.0


def format_table(report: Dict[str, object]) -> str:
    """Plain-text table of a gate report: one row per format."""
    low = report["data"]["protocols"][1]
    src = report["source"]["accuracy"]
    lines = [f"{'format':<16}{'min cos 112/8/14/28':<34}{'hr acc':>8}{low + ' acc':>22}  gate",
             f"{'source':<16}{'':<34}{100 * src['hr']:>8.2f}{100 * src[low]:>22.2f}"]
    for fmt, r in report["formats"].items():
        cos = "/".join(f"{r['cosine'][str(s)]['min']:.5f}" for s in PARITY_SIZES)
        lines.append(f"{fmt:<16}{cos:<34}{100 * r['accuracy']['hr']:>8.2f}{100 * r['accuracy'][low]:>22.2f}  "
                     f"{'ok' if r['passed'] else 'FAILED: ' + '; '.join(r['failures'])}")
    return "\n".join(lines)


def plot(report: Dict[str, object], path: str) -> None:
    """PNG: per-format min and mean cosine per size, and accuracy deltas against the source."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    formats = list(report["formats"])
    low = report["data"]["protocols"][1]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(1, len(formats))
    for i, fmt in enumerate(formats):
        r = report["formats"][fmt]
        x = np.arange(len(PARITY_SIZES)) + i * width
        ax1.bar(x, [1 - r["cosine"][str(s)]["min"] for s in PARITY_SIZES], width, label=fmt)
        ax2.bar(np.arange(2) + i * width, [100 * (r["accuracy"][k] - report["source"]["accuracy"][k]) for k in ("hr", low)],
                width, label=fmt)
    ax1.set_yscale("log")
    ax1.set_xticks(np.arange(len(PARITY_SIZES)) + 0.4 - width / 2, [f"{s} px" for s in PARITY_SIZES])
    ax1.set_ylabel("1 - min cosine to source (log)")
    ax1.legend(fontsize=7)
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set_xticks(np.arange(2) + 0.4 - width / 2, ["hr", low])
    ax2.set_ylabel("accuracy - source (points)")
    fig.suptitle(f"export parity: {report['source']['name']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
