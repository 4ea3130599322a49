"""Evaluation reports: one JSON with every figure and setting, a Markdown table, PNG plots.

The JSON (``report.json``) is the record: per model its fingerprint and
settings and every protocol's result; the Markdown (``report.md``) and plots
are rendered from it (the similarity violins also need the raw scores, kept in
memory or in ``scores_<model>.npz``).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import re
import subprocess
from importlib import metadata
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from lrfr_tf.provenance import command_line

REPORT_FORMAT = "lrfr_tf.eval.report/1"


def versions() -> Dict[str, Optional[str]]:
    """Versions of Python and the packages that determine the figures, plus the lrfr_tf git commit."""
    out: Dict[str, Optional[str]] = {"python": platform.python_version()}
    for pkg in ("lrfr_tf", "tensorflow", "keras", "numpy", "ai-edge-litert", "opencv-python-headless"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--", "lrfr_tf"], capture_output=True, text=True, timeout=10).stdout.strip()
        out["lrfr_tf_git_commit"] = (commit + ("+uncommitted-changes" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        out["lrfr_tf_git_commit"] = None
    return out


def new_report(settings: Mapping[str, Any]) -> Dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "settings": {**settings, "versions": versions()},
        "models": [],
    }


def _finite(obj):
    """Strict JSON: non-finite floats (e.g. PSNR of identical images) become null."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_json(report: Mapping[str, Any], path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_finite(report), f, indent=1, allow_nan=False)
        f.write("\n")


def read_json(path: str) -> Dict[str, Any]:
    with open(path, "r", encoding="utf-8") as f:
        report = json.load(f)
    if report.get("format") != REPORT_FORMAT:
        raise ValueError(f"{path}: not a {REPORT_FORMAT} report (format {report.get('format')!r})")
    return report


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


# -- tables -------------------------------------------------------------------


def _pct(r: Optional[Mapping[str, Any]], std: bool = True) -> str:
    if r is None:
        return "–"
    return f"{100 * r['accuracy']:.2f} ± {100 * r['std']:.2f}" if std else f"{100 * r['accuracy']:.2f}"


def sweep_sizes(verification: Mapping[str, Any], kind: str) -> List[int]:
    return sorted({int(r["size"]) for r in verification.values() if r["kind"] == kind})


def _by_kind(verification: Mapping[str, Any], kind: str, size: int):
    return next((r for r in verification.values() if r["kind"] == kind and r.get("size") == size), None)


def markdown(report: Mapping[str, Any]) -> str:
    s = report["settings"]
    models = report["models"]
    names = [m["model"]["name"] for m in models]
    lines = ["# Evaluation report", ""]
    v = s.get("verification")
    if v:
        d = v["data"]
        lines += [
            f"- Verification data: `{d['pairs_file']}` ({d['num_pairs']} pairs, {d['num_folds']} folds, {d['num_images']} images; "
            f"pairs sha256 `{d['pairs_sha256'][:16]}`, images sha256 `{d['images_sha256'][:16]}`)",
        ]
        files = [p for p in v["protocols"] if p.get("source")]
        if files:
            lines.append("- Protocol files: " + ", ".join(
                f"`{p['source']}`" + (f" (sha256 `{p['sha256'][:16]}`)" if p.get("sha256") else "") for p in files))
    deg = s["degradation"]
    how = (f"spec `{deg['spec']}` (seed {deg['seed']}), resolution set by the protocol" if "spec" in deg else
           f"{deg['kernel']} down (antialias={deg['antialias']}), {deg['up_kernel']} up to the image size")
    lines += [
        f"- Degradation: `{deg['function']}`, {how}, embedder input {deg['embedder_input']}",
        "- Accuracy: LFW 10-fold (threshold maximising accuracy on 9 folds, applied to the 10th), mean ± std over folds in %; "
        "CR and protocol files average both flips.",
    ]
    for m in models:
        mm = m["model"]
        lines.append(
            f"- `{mm['name']}`: {mm['kind']} `{mm.get('path', '')}`, sha256 `{mm['model_sha256'][:16]}`, flip={mm['flip']}, "
            f"preprocessing {json.dumps(mm['preprocessing'])} ({mm['preprocessing_source']})"
        )
    ver = s["versions"]
    lines += ["- Versions: " + ", ".join(f"{k} {v}" for k, v in ver.items() if v), ""]

    if v:
        results = [m.get("verification", {}) for m in models]
        files = [n for n in results[0] if results[0][n]["kind"] in ("hr", "file")]
        if files:
            lines += ["## LFW accuracy: full resolution and protocol files", ""]
            lines += ["| model | " + " | ".join(files) + " |", "|---" * (len(files) + 1) + "|"]
            for name, r in zip(names, results):
                lines.append(f"| {name} | " + " | ".join(_pct(r.get(f)) for f in files) + " |")
            lines.append("")
        sizes = sorted(set(sweep_sizes(results[0], "cr")) | set(sweep_sizes(results[0], "er")))
        if sizes:
            lines += ["## LFW accuracy vs resolution (CR: one image at the size, ER: both)", ""]
            header = "| size (px) | " + " | ".join(f"{n} CR | {n} ER" for n in names) + " |"
            lines += [header, "|---" * (1 + 2 * len(names)) + "|"]
            for size in sizes:
                cells = []
                for r in results:
                    cells += [_pct(_by_kind(r, "cr", size)), _pct(_by_kind(r, "er", size))]
                lines.append(f"| {size} | " + " | ".join(cells) + " |")
            lines.append("")
        for name, r in zip(names, results):
            lines += [f"### {name}: ROC figures (pooled scores of all flips)", ""]
            lines += ["| protocol | accuracy | AUC | EER | TAR@FAR=1e-1 | 1e-2 | 1e-3 |", "|---|---|---|---|---|---|---|"]
            for pname, x in r.items():
                t = x["tar_at_far"]
                lines.append(
                    f"| {pname} | {_pct(x)} | {x['auc']:.4f} | {100 * x['eer']:.2f} | "
                    f"{100 * t['0.1']:.2f} | {100 * t['0.01']:.2f} | {100 * t['0.001']:.2f} |"
                )
            lines.append("")
    ident = [m.get("identification") for m in models]
    if any(ident):
        first = next(i for i in ident if i)
        lines += [
            f"## Identification: rank-1 / rank-5 / rank-20 (%), HR gallery ({first['gallery_size']} identities), "
            f"{first['num_probes']} probes at each size",
            "",
            "| probe size (px) | " + " | ".join(names) + " |",
            "|---" * (1 + len(names)) + "|",
        ]
        for size in first["sizes"]:
            cells = []
            for i in ident:
                c = i["sizes"][size]["cmc"] if i else None
                cells.append(f"{100 * c[0]:.2f} / {100 * c[min(4, len(c) - 1)]:.2f} / {100 * c[-1]:.2f}" if c else "–")
            lines.append(f"| {size} | " + " | ".join(cells) + " |")
        lines.append("")
    if "run_time_s" in report:
        lines.append(f"Run time: {report['run_time_s']:.0f} s.")
    return "\n".join(lines) + "\n"


# -- plots --------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy_vs_resolution(report: Mapping[str, Any], path: str) -> None:
    """CR (solid) and ER (dashed) accuracy vs side length, one colour per model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    all_sizes = set()
    for k, m in enumerate(report["models"]):
        r = m.get("verification", {})
        for kind, style in (("cr", "-"), ("er", "--")):
            sizes = sweep_sizes(r, kind)
            if sizes:
                acc = [100 * _by_kind(r, kind, s)["accuracy"] for s in sizes]
                ax.plot(sizes, acc, style, marker="o", ms=3, color=f"C{k}", label=f"{m['model']['name']} {kind.upper()}")
                all_sizes.update(sizes)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(all_sizes))
    ax.set_xticklabels([str(s) for s in sorted(all_sizes)], fontsize=8)
    ax.minorticks_off()
    ax.axhline(50, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("side length of the degraded image(s) (px)")
    ax.set_ylabel("LFW 10-fold accuracy (%)")
    ax.set_ylim(45, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Accuracy vs resolution (CR: one image degraded, ER: both)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_roc(model_entry: Mapping[str, Any], path: str, sizes: Sequence[int] = (8, 12, 16, 24, 32)) -> None:
    """ROC curves (TAR vs log FAR) for full resolution, CR/ER at ``sizes`` and protocol files."""
    plt = _pyplot()
    r = model_entry.get("verification", {})
    panels = [("cr", "CR"), ("er", "ER"), ("file", "protocol files")]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5), sharey=True)
    for ax, (kind, title) in zip(axes, panels):
        curves = [(n, x) for n, x in r.items() if x["kind"] == "hr"]
        curves += [(n, x) for n, x in r.items() if x["kind"] == kind and (kind == "file" or x.get("size") in sizes)]
        for k, (n, x) in enumerate(curves):
            ax.plot(x["roc"]["far"], [100 * t for t in x["roc"]["tar"]], drawstyle="steps-post", color=f"C{k}", label=f"{n} (AUC {x['auc']:.3f})")
        ax.set_xscale("log")
        ax.set_xlabel("FAR")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("TAR (%)")
    fig.suptitle(f"{model_entry['model']['name']}: ROC on LFW")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_similarity_violins(model_name: str, verification: Mapping[str, Any], scores: Mapping[str, np.ndarray], labels: np.ndarray, path: str) -> None:
    """Cosine similarity of positive (left half) and negative (right half) pairs per size, CR and ER panels.

    The view of Knoche et al. (2021), Fig. 3; CR pools both flips.
    """
    plt = _pyplot()
    kinds = [k for k in ("cr", "er") if sweep_sizes(verification, k)]
    if not kinds:
        return
    fig, axes = plt.subplots(len(kinds), 1, figsize=(11, 3.6 * len(kinds)), squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds):
        sizes = sweep_sizes(verification, kind)
        names = [n for s in sizes for n, x in verification.items() if x["kind"] == kind and x["size"] == s]
        pos = [scores[n][:, labels].ravel() for n in names]
        neg = [scores[n][:, ~labels].ravel() for n in names]
        at = np.arange(len(sizes))
        for data, side, colour, lab in ((pos, "low", "C0", "same person"), (neg, "high", "C3", "different people")):
            parts = ax.violinplot(data, positions=at, side=side, showextrema=False, widths=0.9)
            for body in parts["bodies"]:
                body.set_facecolor(colour)
                body.set_alpha(0.6)
            ax.plot([], [], color=colour, lw=6, alpha=0.6, label=lab)
        ax.set_xticks(at)
        ax.set_xticklabels([str(s) for s in sizes])
        ax.set_xlabel("side length (px)")
        ax.set_ylabel("cosine similarity")
        ax.set_title(f"{model_name}: {kind.upper()} similarity distributions")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_cmc(report: Mapping[str, Any], path: str) -> None:
    """Rank-1 identification accuracy vs probe size, one curve per model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, m in enumerate(report["models"]):
        ident = m.get("identification")
        if not ident:
            continue
        sizes = [int(s) for s in ident["sizes"]]
        ax.plot(sizes, [100 * ident["sizes"][str(s)]["rank1"] for s in sizes], "-o", ms=3, color=f"C{k}", label=f"{m['model']['name']} rank-1")
        ax.plot(sizes, [100 * ident["sizes"][str(s)]["cmc"][-1] for s in sizes], ":", color=f"C{k}", label=f"{m['model']['name']} rank-{ident['max_rank']}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("probe side length (px)")
    ax.set_ylabel("identification rate (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Identification: HR gallery, degraded probes")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
