"""Issue 13's levers on the fine-tuning step: the ``distill`` setup of train_throughput.py once per lever.

Each lever is one ``benchmarks/train_throughput.py --setups=distill --no-profile`` run in its own process (a
precision policy is process-wide), one after the other on an otherwise idle machine; each run also times plain
``model.fit`` (which gets the teacher's embeddings precomputed: the cached-teacher bound). Levers:

  base     the ``distill`` recipe's step: PReLU student (slopes trained) + frozen PReLU teacher, 2 views, float32;
  bf16     ``--precision=mixed_bfloat16`` (this CPU has AVX512_BF16 and AMX-BF16);
  frozen   PReLU slopes not trained (``--config=distill.relu_anneal_steps=300``: the annealed ReLU recipe's step);
  relu     a ReLU student (``--config=model.backbone_kwargs.activation=relu``): a different network;
  onednn_off   ``TF_ENABLE_ONEDNN_OPTS=0``: TensorFlow's own kernels instead of oneDNN's (also the workaround of the
               AVX-512 crash, tensorflow/tensorflow#117700, ``benchmarks/onednn_crash_repro.py``);
  dnnl_avx2    ``DNNL_MAX_CPU_ISA=AVX2``: oneDNN kept, its AVX-512/AMX code paths off (the other workaround);
  interop1     ``TF_NUM_INTEROP_THREADS=1``: one inter-op thread (TF's default: one per core), so independent ops
               of the step no longer run beside each other and split the cores;
  intra1       ``TF_NUM_INTRAOP_THREADS=1``: one thread inside each op (TF's default: one per core); with the
               inter-op default the step's independent ops still use both cores.

Thread-pool and oneDNN levers are environment variables read when TensorFlow starts, so each gets its own process
(``LEVER_ENV``), recorded in the summary.

Writes ``--out_dir``/<lever>.json (train_throughput's JSON) and a summary ``--out`` (.json + .png): images/s of the
engine's step per lever and its ratio to base, CPU-seconds per image, and the 1x1-conv rate of each run (a
check that the machine was equally quiet).

  python benchmarks/train_levers.py                    # ~20 min on 2 cores
  python benchmarks/train_levers.py --summarize_only   # re-read the per-lever JSONs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Environment of a lever's process, on top of the caller's (read by TensorFlow / oneDNN at start-up).
LEVER_ENV = {
    "onednn_off": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "dnnl_avx2": {"DNNL_MAX_CPU_ISA": "AVX2"},
    "interop1": {"TF_NUM_INTEROP_THREADS": "1"},
    "intra1": {"TF_NUM_INTRAOP_THREADS": "1"},
}
#: train_throughput.py arguments of each lever (an environment lever runs base's arguments).
LEVERS = {
    "base": [],
    "bf16": ["--precision=mixed_bfloat16"],
    "frozen": ["--config=distill.relu_anneal_steps=300"],
    "relu": ["--config=model.backbone_kwargs.activation=relu"],
    **{name: [] for name in LEVER_ENV},
}


def summarize(out_dir: Path) -> dict:
    rows = {}
    for lever in LEVERS:
        path = out_dir / f"{lever}.json"
        if not path.is_file():
            continue
        doc = json.loads(path.read_text())
        s = doc["setups"]["distill"]
        rows[lever] = {"argv": doc["meta"]["argv"], "env": LEVER_ENV.get(lever, {}), "started_utc": doc["meta"]["started_utc"],
                       "loadavg_start": doc["meta"]["loadavg_start"],
                       "step_images_per_s": s["step"]["images_per_s"], "fit_images_per_s": s["fit"]["images_per_s"],
                       "cpu_s_per_image": s["step"]["cpu_s_per_image"], "gflops_per_s": s["step"]["gflops_per_s"],
                       "conv1x1_gflops_per_s": doc["conv1x1"]["gflops_per_s_median"]}
    if "base" in rows:
        for r in rows.values():
            r["step_vs_base"] = r["step_images_per_s"] / rows["base"]["step_images_per_s"]
    return {"setup": "distill", "levers": rows}


def plot(summary: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["levers"]
    names = list(rows)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(names, [rows[n]["step_images_per_s"] for n in names], color="tab:blue", label="engine step")
    ax.plot(names, [rows[n]["fit_images_per_s"] for n in names], "o", color="tab:orange",
            label="model.fit, teacher precomputed")
    for i, n in enumerate(names):
        ax.text(i, rows[n]["step_images_per_s"], f"x{rows[n].get('step_vs_base', 1):.2f}", ha="center", va="bottom")
    ax.set_ylabel("faces / s (batch 64, 2 views)")
    ax.set_title("distill step: levers (one process each)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--levers", default=",".join(LEVERS), help=f"Comma-separated, of {', '.join(LEVERS)}.")
    p.add_argument("--out_dir", default=str(REPO / "results/benchmarks/train_levers"))
    p.add_argument("--out", default=str(REPO / "results/benchmarks/train_levers.json"))
    p.add_argument("--summarize_only", action="store_true")
    args = p.parse_args(argv)
    levers = [name.strip() for name in args.levers.split(",") if name.strip()]
    unknown = [name for name in levers if name not in LEVERS]
    if unknown:
        p.error(f"--levers: unknown {unknown}; expected some of {', '.join(LEVERS)}")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not args.summarize_only:
        for i, lever in enumerate(levers, 1):
            print(f"[{i}/{len(levers)}] {lever}", flush=True)
            cmd = [sys.executable, str(REPO / "benchmarks/train_throughput.py"), "--setups=distill", "--no-profile",
                   *LEVERS[lever], f"--out={out_dir / f'{lever}.json'}"]
            env = {**os.environ, **LEVER_ENV.get(lever, {})}
            rc = subprocess.run(cmd, cwd=REPO, env=env).returncode
            if rc:
                print(f"error: lever {lever}: train_throughput.py exited {rc}", file=sys.stderr)
                return rc
    summary = summarize(out_dir)
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    plot(summary, str(Path(args.out).with_suffix(".png")))
    print(f"{'lever':8s} {'step f/s':>9s} {'x base':>7s} {'fit f/s':>8s} {'CPU s/face':>11s} {'1x1 GFLOP/s':>12s}")
    for name, r in summary["levers"].items():
        print(f"{name:8s} {r['step_images_per_s']:9.1f} {r.get('step_vs_base', float('nan')):7.2f} "
              f"{r['fit_images_per_s']:8.1f} {r['cpu_s_per_image']:11.3f} {r['conv1x1_gflops_per_s']:12.0f}")
    print(f"wrote {args.out} and its .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
