"""Every recipe's smoke-trained workdir through ``python -m lrfr_tf.export`` in every format, with the parity gate.

For each recipe: its smoke workdir (``--runs``/NAME, trained with the README's smoke command when missing and
``--train_missing`` is given), then the export command exactly as a user runs it, in a fresh process::

    python -m lrfr_tf.export --model=RUNS/NAME --out=OUT --name=NAME          # every format, gate on

The gate data is ``--gate_data`` (default: what the export command uses, ``$LRFR_GATE_DATA`` or the packaged
LFW sample). Per recipe and format: gate passed or the failures, the per-size cosine against the source, the
accuracy difference (points) and the file size. Writes ``--out`` (JSON) and the same name .png, prints a table.

    python benchmarks/export_recipes.py --runs=runs/smoke --train_missing --exports=exports/recipes
    python benchmarks/export_recipes.py --plot_only                            # re-print and re-draw

A recipe whose export already sits in ``--exports`` (NAME/<version>/export.json or a failed-* folder) is read, not
redone, and the JSON is rewritten after every recipe, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FORMATS = ("saved_model", "tflite_fp32", "tflite_fp16", "tflite_dynamic", "tflite_int8")


def recipe_names():
    from lrfr_tf.train.recipes import recipe_names as names

    return names()


def smoke_train(name: str, workdir: Path, log: Path) -> int:
    cmd = [sys.executable, "-m", "lrfr_tf.train", f"--recipe={name}", f"--workdir={workdir}", "--config.scale=smoke"]
    with open(log, "w") as f:
        return subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT).returncode


def export(name: str, workdir: Path, out: Path, gate_data, log: Path) -> dict:
    if _reports(out, name):
        return summarize(name, out, {"export_rc": None, "export_s": None, "reused": True}, log)
    cmd = [sys.executable, "-m", "lrfr_tf.export", f"--model={workdir}", f"--out={out}", f"--name={name}"]
    if gate_data:
        cmd.append(f"--gate_data={gate_data}")
    t = time.time()
    with open(log, "w") as f:
        rc = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT).returncode
    return summarize(name, out, {"export_rc": rc, "export_s": round(time.time() - t, 1)}, log)


def _reports(out: Path, name: str) -> list:
    return sorted(glob.glob(str(out / name / "*" / "export.json")), key=os.path.getmtime)


def summarize(name: str, out: Path, row: dict, log: Path) -> dict:
    reports = _reports(out, name)
    if not reports:
        row["error"] = Path(log).read_text(errors="replace").strip().splitlines()[-1:]
        return row
    report = json.loads(Path(reports[-1]).read_text())
    gate = report.get("gate") or {}
    row["gate_passed"] = bool(gate.get("passed"))
    row["source_accuracy"] = gate.get("source", {}).get("accuracy")
    row["formats"] = {}
    for fmt, r in (gate.get("formats") or {}).items():
        meta = (report.get("formats") or {}).get(fmt) or {}
        row["formats"][fmt] = {
            "passed": r["passed"], "failures": r["failures"],
            "cosine_min": {s: round(v["min"], 6) for s, v in r["cosine"].items()},
            "cosine_mean": {s: round(v["mean"], 6) for s, v in r["cosine"].items()},
            "accuracy_delta_pt": {k: round(100 * (v - row["source_accuracy"][k]), 3) for k, v in r["accuracy"].items()},
            "size_bytes": meta.get("size_bytes"),
        }
    return row


def table(results: dict) -> str:
    lines = [f"{'recipe':<12} {'format':<15} {'gate':<6} {'min cos 112/8/14/28':<32} {'d acc (pt)':<18} failures"]
    for name, row in results["recipes"].items():
        if "formats" not in row:
            lines.append(f"{name:<12} {'-':<15} {'ERROR':<6} {row.get('error')}")
            continue
        for fmt, r in row["formats"].items():
            cos = "/".join(f"{r['cosine_min'][s]:.5f}" for s in ("112", "8", "14", "28") if s in r["cosine_min"])
            acc = "/".join(f"{v:+.2f}" for v in r["accuracy_delta_pt"].values())
            lines.append(f"{name:<12} {fmt:<15} {'ok' if r['passed'] else 'FAIL':<6} {cos:<32} {acc:<18} "
                         f"{'; '.join(r['failures'])}")
    return "\n".join(lines)


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [n for n, r in results["recipes"].items() if "formats" in r]
    if not names:
        return
    grid = np.full((len(names), len(FORMATS)), np.nan)
    passed = np.zeros_like(grid, dtype=bool)
    for i, n in enumerate(names):
        for j, fmt in enumerate(FORMATS):
            r = results["recipes"][n]["formats"].get(fmt)
            if r:
                grid[i, j] = min(r["cosine_min"].values())
                passed[i, j] = r["passed"]
    fig, ax = plt.subplots(figsize=(1.6 * len(FORMATS) + 2, 0.45 * len(names) + 1.5))
    im = ax.imshow(np.log10(np.clip(1 - grid, 1e-7, 1)), cmap="viridis_r", aspect="auto")
    for i in range(len(names)):
        for j in range(len(FORMATS)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.4f}\n{'pass' if passed[i, j] else 'FAIL'}", ha="center", va="center",
                        fontsize=7, color="white" if passed[i, j] else "red")
    ax.set_xticks(range(len(FORMATS)), FORMATS, rotation=20)
    ax.set_yticks(range(len(names)), names)
    fig.colorbar(im, label="log10(1 - min cosine over sizes)")
    ax.set_title("export parity gate per recipe (smoke workdirs): min cosine, gate")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default=str(REPO / "runs" / "smoke"), help="folder of per-recipe workdirs")
    ap.add_argument("--recipes", default="all", help="comma-separated recipe names, or all")
    ap.add_argument("--exports", default=None, help="keep the exports here (default: a temporary folder); "
                    "recipes already exported there are read, not redone")
    ap.add_argument("--gate_data", default=None, help="LFW-format folder for the gate (default: the export's)")
    ap.add_argument("--train_missing", action="store_true", help="smoke-train recipes without a workdir")
    ap.add_argument("--out", default=str(REPO / "results" / "export" / "recipes.json"))
    ap.add_argument("--plot_only", action="store_true")
    args = ap.parse_args()
    if args.plot_only:
        results = json.loads(Path(args.out).read_text())
    else:
        names = recipe_names() if args.recipes == "all" else args.recipes.split(",")
        unknown = sorted(set(names) - set(recipe_names()))
        if unknown:
            print(f"error: --recipes: unknown recipe(s) {', '.join(unknown)}", file=sys.stderr)
            return 2
        runs = Path(args.runs)
        runs.mkdir(parents=True, exist_ok=True)
        results = {"command": "python -m lrfr_tf.export --model=RUNS/NAME --out=OUT --name=NAME",
                   "gate_data": args.gate_data or os.environ.get("LRFR_GATE_DATA") or "packaged LFW sample",
                   "recipes": {}}
        with tempfile.TemporaryDirectory() as tmp:
            exports = Path(args.exports or tmp)
            for i, name in enumerate(names, 1):
                workdir = runs / name
                print(f"[{i}/{len(names)}] {name}", flush=True)
                if not (workdir / "export" / "embedder.keras").is_file():
                    if not args.train_missing:
                        results["recipes"][name] = {"error": f"{workdir} has no export/embedder.keras (--train_missing)"}
                        continue
                    rc = smoke_train(name, workdir, runs / f"{name}.train.log")
                    if rc:
                        results["recipes"][name] = {"error": f"smoke training failed (rc {rc}), see {name}.train.log"}
                        continue
                results["recipes"][name] = export(name, workdir, exports, args.gate_data, runs / f"{name}.export.log")
                row = results["recipes"][name]
                how = f"read from {exports}" if row.get("reused") else f"in {row.get('export_s') or 0:.0f} s"
                print(f"  gate {'passed' if row.get('gate_passed') else 'FAILED'} ({how})", flush=True)
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                Path(args.out).write_text(json.dumps(results, indent=1, sort_keys=True))
    print(table(results))
    plot(results, str(Path(args.out).with_suffix(".png")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
