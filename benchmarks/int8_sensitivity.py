"""Where full-integer int8 loses the embedding: the int8 export with groups of ops kept in float.

  python benchmarks/int8_sensitivity.py [--model=MODEL] [--calibration_data=DIR] [--per_op=N]   # ~5 min + 10 s/op

The int8 model is made as ``python -m lrfr_tf.export --formats=tflite_int8`` makes it (equalised, bias-corrected,
least-squared-error activation ranges over calibration faces degraded to 8-112 px). Then the same calibrated
model is quantised again with groups of ops left in float (``tflite.quantize_ranged(keep_float=...)``: dequantise
before the op, quantise after): the stem, every PReLU, the head (after the last residual add), the first half,
the second half, and with ``--per_op=N`` each of the first N ops alone. Each variant's per-image cosine to the float
source model is measured on held-out CelebA faces (never LFW: this is a tuning question) at 112, 8, 14 and
28 px, the sizes of the export gate (int8 gate: mean >= 0.98 and 1st percentile >= 0.95 at each size).

If a few ops carried the error, keeping them in float would pass the gate at a small cost in speed; if the
error is spread over the network, no small float group does. Writes results/export/int8_sensitivity.json and
.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SIZES = (112, 8, 14, 28)
GATE_MEAN, GATE_P1 = 0.98, 0.95


def groups(ops):
    """Named float groups: lists of output tensor names."""
    quantizable = [o for o in ops if o[1] not in ("RESHAPE", "L2_NORMALIZATION")]
    adds = [k for k, name, _ in quantizable if name == "ADD"]
    last_add = adds[-1] if adds else len(ops) // 2
    half = len(quantizable) // 2
    return {
        "none (full int8)": [],
        "stem (first 5 ops)": [o[2] for o in quantizable[:5]],
        "every PRELU": [o[2] for o in quantizable if o[1] == "PRELU"],
        "head (after the last ADD)": [o[2] for o in quantizable if o[0] > last_add],
        "first half": [o[2] for o in quantizable[:half]],
        "second half": [o[2] for o in quantizable[half:]],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="../shared/data/models/mobilefacenet/MobileFaceNet.tflite")
    p.add_argument("--calibration_data", default="../shared/data/celeba/aligned112")
    p.add_argument("--faces", type=int, default=150, help="held-out faces (after the 240 calibration faces)")
    p.add_argument("--per_op", type=int, default=0, help="also keep each of the first N ops alone in float")
    p.add_argument("--out", default=str(REPO / "results" / "export"))
    args = p.parse_args(argv)
    for flag, path in (("--model", args.model), ("--calibration_data", args.calibration_data)):
        if not os.path.exists(path):
            print(f"int8_sensitivity.py: {flag}={path} does not exist", file=sys.stderr)
            return 2
    os.makedirs(args.out, exist_ok=True)
    if not os.access(args.out, os.W_OK):
        print(f"int8_sensitivity.py: --out={args.out} is not writable", file=sys.stderr)
        return 2

    import tensorflow as tf
    from tqdm import tqdm

    from lrfr_tf.eval.embedders import TFLiteEmbedder, prepare_images
    from lrfr_tf.export import exporter, parity, sources, tflite

    t0 = time.time()
    src = sources.load_source(args.model)
    pre = src.preprocessing
    faces = exporter.load_calibration_faces(args.calibration_data, 240 + args.faces, pre.aligned_size)
    calibration = tflite.calibration_inputs(faces[:240], pre, exporter._degrader())
    held_out = parity.degraded_faces(faces[240:], SIZES)
    reference = {s: src.model.predict(prepare_images(x, pre), verbose=0) for s, x in held_out.items()}
    with tempfile.TemporaryDirectory() as tmp:
        qsrc = os.path.join(tmp, "quantization_source")
        tflite.write_quantization_source(src.model, pre, calibration, qsrc)
        converter = tf.lite.TFLiteConverter.from_saved_model(qsrc, signature_keys=["embed_normalized"])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
        converter.representative_dataset = lambda: tflite._representative(calibration)
        ranged, _ = tflite.ranged_float_model(converter, calibration)
        ops = tflite.op_outputs(ranged)
        variants = groups(ops)
        for k, name, out in [o for o in ops if o[1] not in ("RESHAPE", "L2_NORMALIZATION")][: args.per_op]:
            variants[f"op {k} {name} alone"] = [out]
        rows = {}
        for label, keep in tqdm(variants.items(), desc="int8 variants", unit="model"):
            path = os.path.join(tmp, "variant.tflite")
            with open(path, "wb") as f:
                f.write(tflite.quantize_ranged(ranged, tf.int8, keep))
            embedder = TFLiteEmbedder(path, preprocessing=pre, num_threads=2)
            cos = {str(s): parity.cosine_stats(embedder.embed(x), reference[s]) for s, x in held_out.items()}
            rows[label] = {"float_ops": len(keep), "cosine": cos,
                           "passes_cosine_gate": all(c["mean"] >= GATE_MEAN and c["p1"] >= GATE_P1 for c in cos.values())}
    result = {"model": args.model, "calibration_data": args.calibration_data, "held_out_faces": args.faces,
              "ops": len(ops), "gate": {"mean": GATE_MEAN, "p1": GATE_P1}, "variants": rows,
              "seconds": time.time() - t0}
    with open(os.path.join(args.out, "int8_sensitivity.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    plot(result, os.path.join(args.out, "int8_sensitivity.png"))
    print(f"{'kept in float':34s} ops  " + "  ".join(f"{s:>5} px mean/p1" for s in SIZES))
    for label, r in rows.items():
        print(f"{label:34s} {r['float_ops']:3d}  " + "  ".join(
            f"{r['cosine'][str(s)]['mean']:.4f}/{r['cosine'][str(s)]['p1']:.4f}" for s in SIZES))
    return 0


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(result["variants"])
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(labels) + 1.5))
    for k, s in enumerate(SIZES):
        vals = [result["variants"][l]["cosine"][str(s)]["mean"] for l in labels]
        ax.scatter(vals, np.arange(len(labels)), label=f"{s} px", marker="os^D"[k])
    ax.axvline(GATE_MEAN, color="k", ls="--", lw=1, label="gate (mean)")
    ax.set_yticks(np.arange(len(labels)), [f"{l} ({result['variants'][l]['float_ops']} float)" for l in labels], fontsize=8)
    ax.set_xlabel("mean cosine to the float model (held-out CelebA faces)")
    ax.set_title("int8 with op groups kept in float")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
