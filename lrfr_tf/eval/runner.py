"""Evaluate several embedders on the same pairs/protocols and write one report.

``parse_protocols`` turns the CLI's protocol tokens into ``PairProtocol``s;
``evaluate_models`` runs verification (and identification) for each embedder
and writes ``report.json``, ``report.md`` and the plots into ``out_dir``.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from lrfr_tf.eval import protocols as P
from lrfr_tf.eval import reports
from lrfr_tf.eval.cache import EmbeddingCache
from lrfr_tf.eval.degradation import ResolutionDegradation
from lrfr_tf.eval.embedders import Embedder, sha256_file
from lrfr_tf.eval.identification import IdentificationData, evaluate_identification
from lrfr_tf.eval.lfw import PairsData, evaluate_verification
from lrfr_tf.provenance import recorded_path

PROTOCOL_HELP = (
    "comma-separated: sweep (= cr,er at --sizes), cr, er, published (the four files), "
    "low_res_focus, mid_res_focus, high_res_focus, avg_sizes (or all_res), random:LO-HI[:SEED] "
    "(generated, saved to OUT/protocols), a path to a protocol .csv, identification. "
    "Full resolution (hr) is always evaluated."
)

_RANDOM = re.compile(r"^random:(\d+)-(\d+)(?::(\d+))?$")
_ALIASES = {name: stem for stem, name in P.PUBLISHED.items()}


def parse_protocols(
    tokens: Sequence[str],
    num_pairs: int,
    sizes: Sequence[int],
    protocols_dir: Optional[str],
    out_dir: Optional[str] = None,
) -> List[P.PairProtocol]:
    """Protocol tokens (see ``PROTOCOL_HELP``; "identification" is skipped here) -> protocols, hr first."""
    out: List[P.PairProtocol] = [P.hr_protocol(num_pairs)]
    modes: List[str] = []
    for raw in tokens:
        token = raw.strip()
        if not token or token in ("hr", "identification"):
            continue
        if token == "sweep":
            modes += [m for m in ("cr", "er") if m not in modes]
        elif token in ("cr", "er"):
            modes += [token] if token not in modes else []
        elif token == "published" or token in P.PUBLISHED or token in _ALIASES:
            stems = list(P.PUBLISHED) if token == "published" else [_ALIASES.get(token, token)]
            if protocols_dir is None:
                raise ValueError(f"protocol {token!r} needs the protocol files: pass --protocols_dir (default DATA/protocols)")
            for stem in stems:
                out.append(protocol_file(P.PUBLISHED[stem], P.published_protocol_path(protocols_dir, stem), num_pairs))
        elif _RANDOM.match(token):
            lo, hi, seed = _RANDOM.match(token).groups()
            seed = int(seed or 0)
            name = f"random_{lo}-{hi}_seed{seed}"
            values = P.generate_protocol(num_pairs, int(lo), int(hi), seed)
            if out_dir is not None:
                path = os.path.join(out_dir, "protocols", f"{name}.csv")
                P.write_protocol(path, values)
                out.append(protocol_file(name, path, num_pairs))
            else:
                out.append(P.from_sizes(name, values))
        elif token.endswith(".csv"):
            out.append(protocol_file(os.path.splitext(os.path.basename(token))[0], token, num_pairs))
        else:
            raise ValueError(f"unknown protocol {token!r}; {PROTOCOL_HELP}")
    out += P.sweep(num_pairs, sizes, modes)
    names = [p.name for p in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"protocol(s) {dupes} requested twice")
    return out


def protocol_file(name: str, path: str, num_pairs: int) -> P.PairProtocol:
    """The protocol in the CSV file ``path``, with the file's path (as given) and sha256."""
    return P.from_sizes(name, P.read_protocol(path, num_pairs), source=path, sha256=sha256_file(path))


def evaluate_models(
    embedders: Sequence[Embedder],
    out_dir: str,
    pairs_data: Optional[PairsData] = None,
    protocols: Sequence[P.PairProtocol] = (),
    identification_data: Optional[IdentificationData] = None,
    identification_sizes: Sequence[int] = (),
    degradation: Optional[ResolutionDegradation] = None,
    cache: Optional[EmbeddingCache] = None,
    model_paths: Optional[Sequence[str]] = None,
    save_scores: bool = True,
    progress: bool = True,
) -> Dict[str, Any]:
    """Run every embedder on the same data and protocols; write the report files; return the report."""
    names = [e.name for e in embedders]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be distinct in one report, got {names} (pass --name)")
    if pairs_data is None and identification_data is None:
        raise ValueError("nothing to evaluate: give verification data and/or identification data")
    start = time.time()
    degradation = degradation or ResolutionDegradation()
    cache = cache if cache is not None else EmbeddingCache()
    settings: Dict[str, Any] = {"degradation": degradation.describe()}
    if pairs_data is not None:
        settings["verification"] = {
            "data": pairs_data.describe(),
            "protocols": [p.describe() for p in protocols],
            "accuracy": "LFW 10-fold: per fold, the threshold maximising accuracy on the other folds (exact search over "
            "midpoints of sorted scores; ties -> highest threshold); 'same' iff cosine > threshold; mean and population "
            "std over folds; flips averaged per fold",
            "far": "FAR(t) = #negatives with score > t / #negatives; TAR@FAR=f is TAR at the lowest t with FAR(t) <= f; "
            "ROC figures on the pooled scores of all flips",
        }
    if identification_data is not None:
        settings["identification"] = {"data": identification_data.describe(), "sizes": [int(s) for s in identification_sizes]}
    report = reports.new_report(settings)
    os.makedirs(out_dir, exist_ok=True)
    for i, embedder in enumerate(embedders):
        t0 = time.time()
        hits0, misses0 = cache.hits, cache.misses
        entry: Dict[str, Any] = {"model": embedder.describe()}
        if model_paths is not None:
            entry["model"]["path"] = recorded_path(model_paths[i])
        if pairs_data is not None:
            results, scores = evaluate_verification(embedder, pairs_data, protocols, degradation, cache, progress)
            entry["verification"] = results
            if save_scores:
                np.savez_compressed(
                    os.path.join(out_dir, f"scores_{reports.slug(embedder.name)}.npz"),
                    labels=pairs_data.labels, folds=pairs_data.folds, **{k: v.astype(np.float32) for k, v in scores.items()},
                )
            reports.plot_roc(entry, os.path.join(out_dir, f"roc_{reports.slug(embedder.name)}.png"))
            reports.plot_similarity_violins(
                embedder.name, results, scores, pairs_data.labels, os.path.join(out_dir, f"similarity_{reports.slug(embedder.name)}.png")
            )
        if identification_data is not None:
            entry["identification"] = evaluate_identification(
                embedder, identification_data, identification_sizes, degradation, cache, progress=progress
            )
        cache.save()
        entry["cache"] = {"hits": cache.hits - hits0, "misses": cache.misses - misses0}
        entry["time_s"] = time.time() - t0
        report["models"].append(entry)
    report["run_time_s"] = time.time() - start
    write_report(report, out_dir)
    return report


def write_report(report: Dict[str, Any], out_dir: str) -> None:
    """report.json, report.md, accuracy_vs_resolution.png and (with identification) identification.png."""
    reports.write_json(report, os.path.join(out_dir, "report.json"))
    with open(os.path.join(out_dir, "report.md"), "w", encoding="utf-8") as f:
        f.write(reports.markdown(report))
    if any(m.get("verification") for m in report["models"]):
        reports.plot_accuracy_vs_resolution(report, os.path.join(out_dir, "accuracy_vs_resolution.png"))
    if any(m.get("identification") for m in report["models"]):
        reports.plot_cmc(report, os.path.join(out_dir, "identification.png"))
