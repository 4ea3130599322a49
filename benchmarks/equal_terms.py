"""Issue 14's equal-terms comparison (and issue 15's claims S1, S2, S4): arms against a baseline, fold by fold.

Each arm is a ``python -m lrfr_tf.evaluate`` report (report.json) of one model on LFW View 2 with the same
protocols. The runs (each recipe's ``--config.scale=equal_terms``, ``defaults.EQUAL_TERMS``: the pretrained
MobileFaceNet fine-tuned 600 steps x 64 CelebA faces with Adam 3e-4, after 100 head-only steps for a method
with a margin head; the ``distill`` recipe is the same budget without a head) and their evaluation:

  python -m lrfr_tf.train --recipe=bt_m --config.scale=equal_terms --workdir=runs_eq/bt_m     # ~35 min, 2 cores
  python -m lrfr_tf.train --recipe=st_m1 --config.scale=equal_terms --workdir=runs_eq/st_m1   # ~55 min
  python -m lrfr_tf.train --recipe=maug_logexp --config.scale=equal_terms --workdir=runs_eq/maug_logexp_et  # ~52 min
  python -m lrfr_tf.train --recipe=distill_ce --workdir=runs_eq/distill_ce     # the best combination, ~50 min
  python -m lrfr_tf.train --recipe=maug_logexp --config.scale=equal_terms \\
      --config.stages.train.updates.main.losses.distance=0 --workdir=runs_eq/maug_only       # MAug alone
  python -m lrfr_tf.evaluate --model=runs_eq/bt_m/export/embedder.keras --name=bt_m --data=../shared/data/lfw \\
      --protocol=low_res,cr --sizes=7,8,12,14 --out=runs_eq/bt_m/view2                   # each arm alike
  python benchmarks/equal_terms.py --arm pretrained=runs_eq/pretrained/view2/report.json \\
      --arm distill=runs_eq/distill/view2/report.json --arm bt_m=runs_eq/bt_m/view2/report.json ...

Claim S1 (IP U-Net, a frozen pretrained MobileFaceNet behind the SR net; ``recipes/ip_unet.py`` scale ``claim``):

  python -m lrfr_tf.train --recipe=ip_unet --config.scale=claim --workdir=runs_claims/ip_unet
  python -m lrfr_tf.train --recipe=ip_unet --config.scale=claim --workdir=runs_claims/ip_unet_pixel \\
      --config.stages.train.updates.main.losses.identity=0
  (evaluate each as above) ... --arm ip_unet=runs_claims/ip_unet/view2/report.json \\
      --arm ip_unet_pixel=runs_claims/ip_unet_pixel/view2/report.json

Claims S0 (SL-margin against the pretrained recognizer on bicubic faces), S3 (RIM: student + assistant against
the student alone, one run, two exported embedders) and S4 (MAug + LogExp against MAug alone), each recipe's
``claim`` scale (the recipe docstrings give the figures):

  python -m lrfr_tf.train --recipe=sl_margin --config.scale=claim --workdir=runs_claims/sl_margin   # ~9 min
  python -m lrfr_tf.train --recipe=rim --config.scale=claim --workdir=runs_claims/rim               # ~20 min
  python -m lrfr_tf.train --recipe=maug_logexp --config.scale=claim --workdir=runs_claims/maug_logexp  # ~9 min
  python -m lrfr_tf.train --recipe=maug_logexp --config.scale=claim --workdir=runs_claims/maug_only \
      --config.stages.train.updates.main.losses.distance=0
  (evaluate each as above; sl_margin and the baseline also at --sizes=...,16; rim's export/embedder.keras as
  arm rim and export/embedder_student.keras as arm rim_student)

The first ``--arm`` is the baseline (the pretrained MobileFaceNet, no fine-tuning). For every protocol the
table gives each arm's 10-fold accuracy, its difference to the baseline and the standard deviation of the
per-fold differences (the folds are the same pairs for every arm, so the difference is paired). The claims
below are judged on the mean difference; "reproduced" needs the difference beyond one paired fold std.

Writes results/equal_terms/comparison.json, comparison.md and comparison.png, and copies each arm's report
(arms/<name>.json) so the figures can be recomputed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: (claim id, text, arm a, arm b, protocol): "a beats b on protocol" (issue 15's claims, in direction).
CLAIMS = (
    ("S2a", "BT-M beats the baseline on low_res (Knoche et al.)", "bt_m", "pretrained", "low_res"),
    ("S2b", "ST-M1 beats the baseline on low_res (Knoche et al.)", "st_m1", "pretrained", "low_res"),
    ("S2c", "BT-M keeps more high-resolution accuracy than ST-M1 (Knoche et al.)", "bt_m", "st_m1", "hr"),
    ("S4a", "MAug + LogExp beats MAug alone at 7 px (Ling et al.)", "maug_logexp", "maug_only", "cr_7"),
    ("S4b", "MAug + LogExp beats MAug alone at 14 px (Ling et al.)", "maug_logexp", "maug_only", "cr_14"),
    ("S3", "student + assistant beats the student alone on low_res (RIM)", "rim", "rim_student", "low_res"),
    ("S0a", "SR + recognizer beats the recognizer on bicubic-upsampled faces at 8 px (SL-margin)", "sl_margin",
     "pretrained", "cr_8"),
    ("S0b", "SR + recognizer beats the recognizer on bicubic-upsampled faces at 12 px (SL-margin)", "sl_margin",
     "pretrained", "cr_12"),
    ("S0c", "SR + recognizer beats the recognizer on bicubic-upsampled faces at 16 px (SL-margin)", "sl_margin",
     "pretrained", "cr_16"),
    ("S1a", "pixel + identity loss beats pixel only at 7 px, gallery embedded directly (IP U-Net)", "ip_unet",
     "ip_unet_pixel", "cr_7"),
    ("S1b", "pixel + identity loss beats pixel only at 14 px, gallery embedded directly (IP U-Net)", "ip_unet",
     "ip_unet_pixel", "cr_14"),
)


#: Training budget of each arm as run (faces seen after the head-only warm-up of a margin-head method): the rows of
#: issue 14's equal-terms comparison (``EQUAL_TERMS_ARMS``) share one budget; the claim arms of issue 15 ran smaller.
ARM_BUDGET = {
    "pretrained": "none",
    "distill": "600 x 64",
    "distill_ce": "100 head + 600 x 64",
    "bt_m": "100 head + 600 x 64",
    "st_m1": "100 head + 600 x 64",
    "maug_logexp_et": "100 head + 600 x 64",
    "distill_80px": "600 x 64",
    "distill_relu": "600 x 64",
    "ip_unet": "claim: SR net only",
    "ip_unet_pixel": "claim: SR net only",
    "maug_logexp": "claim: 100 head + 300 x 32",
    "maug_only": "claim: 100 head + 300 x 32",
    "sl_margin": "claim: 100 head + 300 SR + 300 joint x 32",
    "rim": "claim: 100 + 200 x 32",
    "rim_student": "claim: 100 + 200 x 32",
}
#: Issue 14's equal-terms comparison: no fine-tuning, BT-M, ST-M1, MAug + LogExp, the distillation recipe and the
#: best combination (``recipes/distill_ce.py``), all from the pretrained MobileFaceNet on the same CelebA faces,
#: the same budget and the same evaluation (``maug_logexp_et``: the recipe's ``equal_terms`` scale; the
#: ``maug_logexp`` arm is claim S4's smaller run).
EQUAL_TERMS_ARMS = ("pretrained", "bt_m", "st_m1", "maug_logexp_et", "distill", "distill_ce")
EQUAL_TERMS_PROTOCOLS = ("hr", "low_res", "cr_7", "cr_8", "cr_12", "cr_14")


def equal_terms_markdown(result: Dict[str, object]) -> List[str]:
    """Issue 14's six arms (those given) on one budget: accuracy per protocol and TAR@FAR 1e-2 on low_res, the
    best arm of each column in bold."""
    arms = [a for a in EQUAL_TERMS_ARMS if a in result["arms"]]
    protocols = [p for p in EQUAL_TERMS_PROTOCOLS if p in result["protocols"]]
    if len(arms) < 2 or not protocols:
        return []
    table = result["table"]
    cols = [(p, lambda a, p=p: table[p].get(a, {}).get("accuracy")) for p in protocols]
    if "low_res" in protocols:
        cols.append(("TAR@FAR 1e-2 low_res", lambda a: table["low_res"].get(a, {}).get("tar_at_far_1e-2")))
    best = {}
    for name, get in cols:
        values = [v for v in (get(a) for a in arms) if v is not None]
        best[name] = max(values) if values else None
    lines = ["", "Issue 14's equal-terms comparison (same faces, same budget, same evaluation):", "",
             "| arm | budget | " + " | ".join(n for n, _ in cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for a in arms:
        cells = []
        for name, get in cols:
            v = get(a)
            cells.append("-" if v is None else (f"**{v:.2f}**" if v == best[name] else f"{v:.2f}"))
        lines.append(f"| {a} | {ARM_BUDGET.get(a, '-')} | " + " | ".join(cells) + " |")
    return lines


def parse_arm(text: str):
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise ValueError(f"--arm {text!r}: expected NAME=path/to/report.json")
    return name, path


def load_arm(path: str) -> Dict[str, dict]:
    """{protocol: verification result} of the single model in an evaluate report."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--arm: {path} does not exist (run python -m lrfr_tf.evaluate --out=... first)")
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    models = report.get("models") if isinstance(report, dict) else None
    if not models or len(models) != 1 or "verification" not in models[0]:
        raise ValueError(f"--arm: {path} is not a one-model lrfr_tf.evaluate report (report.json)")
    return models[0]["verification"]


def paired(a: dict, b: dict) -> Dict[str, float]:
    """Mean and standard deviation over folds of a's fold accuracy minus b's (points)."""
    fa, fb = np.asarray(a["fold_accuracies"]), np.asarray(b["fold_accuracies"])
    if fa.shape != fb.shape:
        raise ValueError(f"fold counts differ ({fa.size} vs {fb.size}): the arms were not evaluated alike")
    d = 100.0 * (fa - fb)
    return {"difference": float(d.mean()), "fold_std": float(d.std(ddof=1)) if d.size > 1 else 0.0}


def compare(arms: Dict[str, Dict[str, dict]]) -> Dict[str, object]:
    names = list(arms)
    baseline = names[0]
    # Every protocol of the baseline that another arm has too; an arm without it shows "-" there.
    protocols = [p for p in arms[baseline] if any(p in arms[n] for n in names[1:])] if len(names) > 1 \
        else list(arms[baseline])
    table: Dict[str, Dict[str, dict]] = {}
    for p in protocols:
        table[p] = {}
        for n in names:
            if p not in arms[n]:
                continue
            r = arms[n][p]
            row = {"accuracy": 100.0 * r["accuracy"], "std": 100.0 * r["std"],
                   "tar_at_far_1e-2": 100.0 * r["tar_at_far"]["0.01"] if "tar_at_far" in r else None}
            if n != baseline:
                row.update({f"vs_{baseline}": paired(r, arms[baseline][p])})
            table[p][n] = row
    claims = []
    for cid, text, a, b, p in CLAIMS:
        if a not in arms or b not in arms or p not in arms[a] or p not in arms[b]:
            claims.append({"id": cid, "claim": text, "verdict": "not run", "arms": [a, b], "protocol": p})
            continue
        d = paired(arms[a][p], arms[b][p])
        verdict = ("reproduced" if d["difference"] > d["fold_std"] else
                   "not reproduced" if d["difference"] <= 0 else "same direction, within one fold std")
        claims.append({"id": cid, "claim": text, "arms": [a, b], "protocol": p, **d,
                       "accuracy": [100.0 * arms[a][p]["accuracy"], 100.0 * arms[b][p]["accuracy"]],
                       "verdict": verdict})
    return {"baseline": baseline, "arms": names, "protocols": protocols, "table": table, "claims": claims}


def markdown(result: Dict[str, object]) -> str:
    names, base = result["arms"], result["baseline"]
    lines = ["| protocol | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for p in result["protocols"]:
        cells = []
        for n in names:
            r = result["table"][p].get(n)
            if r is None:
                cells.append("-")
                continue
            cell = f"{r['accuracy']:.2f}"
            if n != base:
                d = r[f"vs_{base}"]
                cell += f" ({d['difference']:+.2f} ± {d['fold_std']:.2f})"
            cells.append(cell)
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    if "low_res" in result["protocols"]:
        tars = [result["table"]["low_res"].get(n, {}).get("tar_at_far_1e-2") for n in names]
        lines.append("| TAR@FAR 1e-2, low_res | " + " | ".join("-" if t is None else f"{t:.2f}" for t in tars) + " |")
    lines.append("| budget | " + " | ".join(ARM_BUDGET.get(n, "-") for n in names) + " |")
    lines += ["", f"LFW View 2 10-fold accuracy (%); in brackets the difference to {base} and the standard deviation "
              "of the per-fold differences (points). Budget: training steps x faces per step after the pretrained "
              "initialisation (head: head-only warm-up steps of a new margin head; claim: issue 15's smaller scale)."]
    lines += equal_terms_markdown(result)
    lines += ["", "| claim | arms | protocol | difference | fold std | verdict |", "|---|---|---|---|---|---|"]
    for c in result["claims"]:
        if c["verdict"] == "not run":
            lines.append(f"| {c['id']}: {c['claim']} | {' vs '.join(c['arms'])} | {c['protocol']} | - | - | not run |")
        else:
            lines.append(f"| {c['id']}: {c['claim']} | {' vs '.join(c['arms'])} | {c['protocol']} | "
                         f"{c['difference']:+.2f} | {c['fold_std']:.2f} | {c['verdict']} |")
    return "\n".join(lines) + "\n"


def plot(result: Dict[str, object], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, protocols = result["arms"], result["protocols"]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(protocols)), 4))
    width = 0.8 / len(names)
    for k, n in enumerate(names):
        acc = [result["table"][p][n]["accuracy"] if n in result["table"][p] else np.nan for p in protocols]
        std = [result["table"][p][n]["std"] if n in result["table"][p] else 0.0 for p in protocols]
        ax.bar(np.arange(len(protocols)) + k * width, acc, width, yerr=std, label=n, capsize=2)
    ax.set_xticks(np.arange(len(protocols)) + 0.4 - width / 2, protocols)
    ax.set_ylim(50, 100)
    ax.set_ylabel("LFW View 2 accuracy (%)")
    ax.set_title("Equal terms and claims: fine-tuned from the pretrained MobileFaceNet")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arm", action="append", required=True, help="NAME=report.json (first: the baseline)")
    p.add_argument("--out", default=str(REPO / "results" / "equal_terms"))
    args = p.parse_args(argv)
    try:
        specs = [parse_arm(a) for a in args.arm]
        if len({n for n, _ in specs}) != len(specs):
            raise ValueError("--arm: arm names must be unique")
        arms = {n: load_arm(path) for n, path in specs}
        os.makedirs(args.out, exist_ok=True)
        if not os.access(args.out, os.W_OK):
            raise PermissionError(f"--out: {args.out} is not writable")
    except (ValueError, FileNotFoundError, PermissionError, json.JSONDecodeError) as e:
        print(f"equal_terms.py: {e}", file=sys.stderr)
        return 2
    result = compare(arms)
    os.makedirs(os.path.join(args.out, "arms"), exist_ok=True)
    previous = {}
    if os.path.isfile(os.path.join(args.out, "comparison.json")):  # where the arms read from arms/ came from
        with open(os.path.join(args.out, "comparison.json"), encoding="utf-8") as f:
            previous = json.load(f).get("sources", {})
    sources = {}
    for n, path in specs:
        copy = os.path.join(args.out, "arms", f"{n}.json")
        if os.path.isfile(copy) and os.path.samefile(path, copy):  # an arm re-read from its committed copy
            sources[n] = previous.get(n, path)
        else:
            shutil.copyfile(path, copy)
            sources[n] = path
    result["sources"] = sources
    with open(os.path.join(args.out, "comparison.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    table = markdown(result)
    with open(os.path.join(args.out, "comparison.md"), "w", encoding="utf-8") as f:
        f.write(table)
    plot(result, os.path.join(args.out, "comparison.png"))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
