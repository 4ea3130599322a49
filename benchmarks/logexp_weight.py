"""Calibrate maug_logexp's LogExp weight where equal-terms fine-tuning starts: after the head warm-up.

The recipe's weight (25 D) was calibrated on gradient norms at the start of training with a fresh margin head,
where the cross-entropy's gradient is large: there the weighted LogExp gradient is 0.36x the cross-entropy's, as
the cosine term of ``st`` / ``st_m1`` (Knoche et al.'s weight 25) is. On equal terms the head is first warmed up
for 100 steps, the cross-entropy's gradient on the backbone shrinks, and the run collapsed
(``results/equal_terms/maug_logexp_collapsed``). Here both terms are measured at that very point: the
``maug_logexp`` equal-terms workdir's checkpoint at the end of its ``head_warmup`` stage, restored once per
distance, on the same ``--batches`` training batches:

  ratio(term) = ||grad w * mean(term)|| / ||grad mean(CE_HR + CE_LR)||   w.r.t. the backbone's weights

for LogExp (p = 1, L2-normalised, w = the recipe's 25 D = 4,800) and the cosine distance at st_m1's weight 25.
The LogExp weight that matches the cosine term's pull is ``w * ratio(cosine) / ratio(LogExp)``.

  python benchmarks/logexp_weight.py --workdir=runs_eq/maug_logexp      # ~5 min on 2 cores

Writes results/equal_terms/logexp_weight.json and .png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def checkpoint_copy(workdir: str, step: int, into: str) -> None:
    """``into``/checkpoints holding only ``workdir``'s checkpoint of ``step`` (restored as the latest)."""
    src = os.path.join(workdir, "checkpoints")
    files = [f for f in os.listdir(src) if f.startswith(f"ckpt-{step}.")]
    if not files:
        raise FileNotFoundError(f"--workdir: no checkpoint of step {step} in {src}")
    dst = os.path.join(into, "checkpoints")
    os.makedirs(dst)
    for f in files + ["replicas.json"]:
        if os.path.isfile(os.path.join(src, f)):
            shutil.copy(os.path.join(src, f), dst)
    Path(dst, "checkpoint").write_text(f'model_checkpoint_path: "ckpt-{step}"\nall_model_checkpoint_paths: "ckpt-{step}"\n')


def gradient_norms(overrides, workdir: str, step: int, batches: int, distance_kwargs=None) -> dict:
    """Median over ``batches`` of the two weighted terms' gradient norms, from ``workdir``'s checkpoint ``step``."""
    import tensorflow as tf

    from lrfr_tf.train.engine import Trainer
    from lrfr_tf.train.recipes import load_config

    config = load_config("maug_logexp", ["scale=equal_terms", *overrides])
    config.data.verify, config.log.progress, config.eval.enabled = "none", False, False
    if distance_kwargs is not None:
        config.siamese.distance_kwargs = distance_kwargs
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint_copy(workdir, step, tmp)
        trainer = Trainer(config, tmp)
        restored = trainer.restore()
        if restored != step:
            raise RuntimeError(f"restored step {restored}, expected {step}")
        stage = trainer.stages[-1]  # the fine-tuning stage that starts here
        (update,) = stage.updates
        variables = trainer.models["backbone"].trainable_variables
        norms, values = [], []
        for batch in trainer.dataset(stage, step).take(batches):
            with tf.GradientTape(persistent=True) as tape:
                terms = trainer.method.loss_terms(trainer.models, batch, trainable=update.train, needed=["ce", "distance"])
                weighted = {k: update.losses[k] * tf.reduce_mean(terms[k]) for k in ("ce", "distance")}
            norms.append([float(tf.linalg.global_norm(tape.gradient(weighted[k], variables))) for k in ("ce", "distance")])
            values.append([float(weighted[k]) for k in ("ce", "distance")])
            print(f"  batch {len(norms)}/{batches}: |grad ce| {norms[-1][0]:.4g}, |grad w*distance| {norms[-1][1]:.4g}",
                  flush=True)
        ce, dist = np.median(np.array(norms), axis=0)
        return {"weight": float(update.losses["distance"]), "grad_ce": float(ce), "grad_distance": float(dist),
                "ratio": float(dist / ce), "per_batch": norms, "weighted_values": values}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", required=True, help="maug_logexp equal-terms workdir with the head warm-up checkpoint")
    ap.add_argument("--step", type=int, default=100, help="checkpoint step (the end of head_warmup)")
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--out", default=str(REPO / "results" / "equal_terms" / "logexp_weight.json"))
    args = ap.parse_args(argv)
    if not os.path.isdir(os.path.join(args.workdir, "checkpoints")):
        print(f"logexp_weight.py: --workdir={args.workdir}: no checkpoints/ folder", file=sys.stderr)
        return 2
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    print("LogExp (the recipe's equal-terms weight):")
    logexp = gradient_norms([], args.workdir, args.step, args.batches)
    print("cosine distance (st_m1's weight 25):")
    cosine = gradient_norms(["siamese.distance=cosine_distance", "stages.train.updates.main.losses.distance=25.0"],
                            args.workdir, args.step, args.batches, distance_kwargs={})
    matched = logexp["weight"] * cosine["ratio"] / logexp["ratio"]
    doc = {"command": "python benchmarks/logexp_weight.py " + " ".join(argv or sys.argv[1:]), "step": args.step,
           "logexp": logexp, "cosine": cosine, "logexp_weight_matching_cosine": matched}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"ratio at the fine-tuning start: LogExp w={logexp['weight']:g}: {logexp['ratio']:.3g}; "
          f"cosine w=25: {cosine['ratio']:.3g}; LogExp weight with the cosine term's pull: {matched:.4g}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(["CE (LogExp run)", f"LogExp w={logexp['weight']:g}", "CE (cosine run)", "cosine w=25"],
           [logexp["grad_ce"], logexp["grad_distance"], cosine["grad_ce"], cosine["grad_distance"]],
           color=["grey", "C3", "grey", "C0"])
    ax.set_ylabel("gradient norm (backbone)")
    ax.set_title(f"after the head warm-up (step {args.step}); matched LogExp weight {matched:.3g}", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.splitext(args.out)[0] + ".png", dpi=120)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
