"""Which int8 route keeps more accuracy on low_res_focus for the pretrained MobileFaceNet: the export's
post-training conversion, ai-edge-quantizer static int8, or quantisation-aware training.

Every route's .tflite goes through the export's parity gate against the same source (the MobileFaceNet
.tflite imported to Keras; ``lrfr_tf.qat.gate.gate_routes``: per-image cosine at 112/8/14/28 px on the first
500 faces, LFW 10-fold accuracy at 112 px and on the published low_res_focus protocol, the int8 limits),
plus model size, the ops left in float, and LiteRT latency (batch 1, 1 thread, median of ``--latency_runs``).

The .tflite files are made by the routes' own commands (README, "Quantisation-aware training"):

  python -m lrfr_tf.export --model=$MFN --out=E --formats=tflite_fp32,tflite_int8 --no_gate   # converter PTQ
  python -m lrfr_tf.qat aeq --model=$MFN --tflite=E/MobileFaceNet/1/tflite/MobileFaceNet_fp32.tflite --out=A --no_gate
  python -m lrfr_tf.qat prepare ... ; VENV/bin/python -m lrfr_tf.qat train ... ; python -m lrfr_tf.qat finish ... --no_gate

then

  python benchmarks/qat_vs_ptq.py --gate_data=../shared/data/lfw \
      --route=converter_ptq_int8=E/MobileFaceNet/1/tflite/MobileFaceNet_int8.tflite \
      --route=aeq_static_int8=A/MobileFaceNet_aeq_int8.tflite --route=qat_int8=Q/MobileFaceNet_qat_int8.tflite

writes results/export/qat_vs_ptq.json and .png. ``--merge`` adds routes to an existing JSON (the source's
figures are recomputed and must match; routes already there are replaced). On loaded shared cores the
committed numbers were measured one route per process, in parallel, with the source's accuracies taken from
the export's float gate of the same source on the same data (``--source_figures``), then combined:

  for r in qat_int8=Q.tflite converter_ptq_int8=P.tflite aeq_static_int8=A.tflite; do
    python benchmarks/qat_vs_ptq.py --source_figures=results/export/mobilefacenet_float_gate.json \
        --route=$r --out=/tmp/route_${r%%=*}.json & done; wait
  python benchmarks/qat_vs_ptq.py --combine /tmp/route_*.json --out=results/export/qat_vs_ptq.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="../shared/data/models/mobilefacenet/MobileFaceNet.tflite")
    parser.add_argument("--gate_data", default="../shared/data/lfw")
    parser.add_argument("--gate_faces", type=int, default=500)
    parser.add_argument("--route", action="append", default=[], help="NAME=PATH.tflite (repeat)")
    parser.add_argument("--out", default="results/export/qat_vs_ptq.json")
    parser.add_argument("--latency_runs", type=int, default=50)
    parser.add_argument("--merge", action="store_true")
    parser.add_argument("--combine", nargs="+", default=None, metavar="JSON",
                        help="only combine reports of earlier runs (one route each, same source figures) into --out")
    parser.add_argument("--source_figures", default=None,
                        help="an export's gate JSON (results/export/mobilefacenet_float_gate.json) of the same source "
                             "on the same data: its source accuracies are used instead of re-measuring them")
    args = parser.parse_args(argv)
    if args.combine:
        return combine(args.combine, args.out)
    routes = {}
    for item in args.route:
        name, sep, path = item.partition("=")
        if not sep or not os.path.isfile(path):
            print(f"error: --route={item}: expected NAME=PATH of an existing .tflite", file=sys.stderr)
            return 2
        routes[name] = path
    if not routes:
        print("error: --route: give at least one NAME=PATH.tflite", file=sys.stderr)
        return 2

    from lrfr_tf.export import parity
    from lrfr_tf.export.sources import load_source
    from lrfr_tf.qat import aeq, gate

    source = load_source(args.model)
    data = parity.GateData(args.gate_data, args.gate_faces)
    source_accuracy = None
    if args.source_figures:
        with open(args.source_figures, encoding="utf-8") as f:
            earlier = json.load(f)
        gate_json = earlier.get("gate", earlier)
        same = (gate_json["data"]["pairs_sha256"] == data.describe()["pairs_sha256"]
                and all(m["source"]["sha256"] == source.sha256 for m in earlier.get("formats", {}).values()))
        if not same:
            print(f"error: --source_figures={args.source_figures}: another source or other gate data", file=sys.stderr)
            return 2
        source_accuracy = gate_json["source"]["accuracy"]
    t = time.time()

    def finish_routes(report):
        for name, r in report["formats"].items():
            path = routes[name]
            with open(path, "rb") as f:
                model_bytes = f.read()
            r["file"] = os.path.relpath(path)
            r["size_bytes"] = len(model_bytes)
            r.setdefault("ops", aeq.describe(model_bytes))
            src = report["source"]["accuracy"]
            if r["accuracy"] is not None:
                r["delta_points"] = {k: 100 * (r["accuracy"][k] - src[k]) for k in src}

    def checkpoint(report):  # each stage lands on disk
        finish_routes(report)
        with open(args.out + ".partial", "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, sort_keys=True)

    report = gate.gate_routes(source, routes, data, source_accuracy=source_accuracy, on_stage=checkpoint)
    elapsed = time.time() - t
    finish_routes(report)
    for name in routes:
        report["formats"][name]["latency_ms_1thread"] = gate.latency_ms(routes[name], args.latency_runs)
    if args.merge and os.path.isfile(args.out):
        with open(args.out, encoding="utf-8") as f:
            old = json.load(f)
        same = all(abs(old["source"]["accuracy"][k] - v) < 1e-12 for k, v in report["source"]["accuracy"].items())
        if not same:
            print(f"error: --merge: the source's accuracy differs from {args.out}'s", file=sys.stderr)
            return 2
        report["formats"] = {**{k: v for k, v in old["formats"].items() if k not in routes}, **report["formats"]}
        report["passed"] = all(r["passed"] for r in report["formats"].values())
    report["source"]["model"] = os.path.relpath(args.model)
    report["gate_seconds_last_run"] = elapsed
    report["machine_load_note"] = f"load average {os.getloadavg()[0]:.1f} at the end (2 shared cores)"
    return write(report, args.out)


def write(report, out):
    from lrfr_tf.export import parity

    low = report["data"]["protocols"][1]
    src = report["source"]["accuracy"][low]
    # "keeps more accuracy" = closest to the source (the gate's |delta|): near chance, departing can land above it
    report["winner_low_res_focus"] = min(report["formats"], key=lambda k: abs(report["formats"][k]["accuracy"][low] - src))
    report["highest_low_res_focus"] = max(report["formats"], key=lambda k: report["formats"][k]["accuracy"][low])
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    parity.plot(report, os.path.splitext(out)[0] + ".png")
    print(parity.format_table(report))
    for name, r in report["formats"].items():
        mean = "/".join(f"{r['cosine'][str(s)]['mean']:.4f}" for s in parity.PARITY_SIZES)
        print(f"{name:<22} mean cos 112/8/14/28 {mean}  low_res {r['delta_points'][low]:+.2f} pt  "
              f"{r['size_bytes'] / 1e6:.2f} MB  {r['latency_ms_1thread']:.1f} ms  {'pass' if r['passed'] else 'FAIL'}")
    print(f"closest to the source on {low}: {report['winner_low_res_focus']}")
    return 0


def combine(paths, out):
    """One report from several runs' reports (each route measured in its own process against the same source
    figures: the runs went in parallel on the shared cores)."""
    reports = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            reports.append(json.load(f))
    base = reports[0]
    for r in reports[1:]:
        if r["source"]["accuracy"] != base["source"]["accuracy"] or r["data"] != base["data"]:
            print(f"error: --combine: the reports disagree on the source or the data", file=sys.stderr)
            return 2
        base["formats"].update(r["formats"])
    base["passed"] = all(r["passed"] for r in base["formats"].values())
    base["runs"] = [{"routes": sorted(r["formats"]), "gate_seconds": r.get("gate_seconds_last_run"),
                     "machine_load_note": r.get("machine_load_note")} for r in reports]
    return write(base, out)

if __name__ == "__main__":
    sys.exit(main())
