r"""Smallest reproductions of TF 2.21's oneDNN heap corruption on AVX-512 CPUs, each in its own process.

    python benchmarks/onednn_crash_repro.py [--reps=20] [--trials=3] [--json=results/benchmarks/onednn_crash_repro.json]

On AMD EPYC CPUs with AVX-512 (seen on family 26, AVX512_BF16), TensorFlow 2.21 with its default oneDNN
settings corrupts the heap ("free(): invalid size", "double free or corruption", segfault) in:

* ``Conv2DBackpropFilter`` of a **1x1 convolution with stride 2 and fewer than 16 input channels** (the gradient
  of the projection shortcut of a narrow IResNet stage): ``x=[4, 64, 64, 8]``, filter ``[1, 1, 8, 8]``,
  strides 2, float32. The same op with 16 input channels, stride 1, or a 3x3 kernel passes.
* ``MatMul`` of a rank-4 tensor by a rank-2 one (tensorflow/tensorflow#117700):
  ``tf.linalg.matmul(tf.random.normal([13, 1, 3, 4]), tf.random.normal([4, 16]))``.

Every case runs ``--reps`` times in each of ``--trials`` fresh Python processes (a corrupted heap may only fail
later, at exit, and not in every process: the crash is intermittent),
under TensorFlow's defaults and under the two environment workarounds (``TF_ENABLE_ONEDNN_OPTS=0``,
``DNNL_MAX_CPU_ISA=AVX2``). A process "crashes" when it dies by a signal or abort, or never prints its result; the
numeric result is also checked against float64 (``max_rel_err``). The library avoids both patterns by construction
(``lrfr_tf.models.layers.ConvBNAct`` runs a strided 1x1 conv as a subsampling slice and a stride-1 conv; see
README, "Known platform issues"), so this script is the evidence, not a guard.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

CHILD = r"""
import os, sys, json
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
case = json.loads(sys.argv[1]); reps = int(sys.argv[2])
if case["op"] == "conv_backprop_filter":
    b, h, cin, cout, k, s = (case[n] for n in ("batch", "size", "cin", "cout", "kernel", "stride"))
    x = tf.random.stateless_normal([b, h, h, cin], seed=[1, 2])
    oh = (h - k) // s + 1
    dy = tf.random.stateless_normal([b, oh, oh, cout], seed=[3, 4])
    def run(x, dy):
        return tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=[k, k, cin, cout], out_backprop=dy,
                                               strides=[1, s, s, 1], padding="VALID")
    for _ in range(reps):
        out = run(x, dy)
    ref = run(tf.cast(x, tf.float64), tf.cast(dy, tf.float64))
elif case["op"] == "matmul":
    a = tf.random.stateless_normal(case["a"], seed=[1, 2]); w = tf.random.stateless_normal(case["b"], seed=[3, 4])
    for _ in range(reps):
        out = tf.linalg.matmul(a, w)
    ref = tf.linalg.matmul(tf.cast(a, tf.float64), tf.cast(w, tf.float64))
err = float(tf.reduce_max(tf.abs(tf.cast(out, tf.float64) - ref)) / (tf.reduce_max(tf.abs(ref)) + 1e-12))
print("RESULT " + json.dumps({"rel_err": err}), flush=True)
"""

ENVS = {
    "default": {},
    "TF_ENABLE_ONEDNN_OPTS=0": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "DNNL_MAX_CPU_ISA=AVX2": {"DNNL_MAX_CPU_ISA": "AVX2"},
}


def conv(cin, cout=8, kernel=1, stride=2, size=64, batch=4):
    return {"op": "conv_backprop_filter", "batch": batch, "size": size, "cin": cin, "cout": cout,
            "kernel": kernel, "stride": stride}


def cases():
    out = [conv(8)]  # the minimal failing shortcut gradient
    out += [conv(c) for c in (1, 3, 4, 12, 15, 16, 32)]  # input channels
    out += [conv(8, stride=1), conv(8, kernel=3, stride=1), conv(8, kernel=3, stride=2)]  # stride / kernel
    out += [conv(8, size=s) for s in (8, 16, 32, 112)] + [conv(8, batch=1), conv(8, cout=64)]
    out += [{"op": "matmul", "a": [13, 1, 3, 4], "b": [4, 16]},  # tensorflow/tensorflow#117700
            {"op": "matmul", "a": [13, 3, 4], "b": [4, 16]},
            {"op": "matmul", "a": [39, 4], "b": [4, 16]}]
    return out


def run_case(case, reps, env_extra, timeout=300):
    env = {**os.environ, **env_extra}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None) if "TF_ENABLE_ONEDNN_OPTS" not in env_extra else None
    env.pop("DNNL_MAX_CPU_ISA", None) if "DNNL_MAX_CPU_ISA" not in env_extra else None
    t = time.time()
    try:
        p = subprocess.run([sys.executable, "-c", CHILD, json.dumps(case), str(reps)], env=env,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "hang", "seconds": timeout}
    result = next((json.loads(line[7:]) for line in p.stdout.splitlines() if line.startswith("RESULT ")), None)
    crashed = p.returncode != 0 or result is None
    tail = [ln for ln in p.stderr.strip().splitlines() if ln and not ln.startswith(("WARNING", "I0000", "E0000"))]
    return {"status": "crash" if crashed else "ok", "returncode": p.returncode,
            "rel_err": None if result is None else result["rel_err"],
            "message": tail[-1][:200] if crashed and tail else "", "seconds": round(time.time() - t, 1)}


def describe(case):
    if case["op"] == "matmul":
        return f"matmul {case['a']} x {case['b']}"
    return (f"conv_backprop_filter x=[{case['batch']},{case['size']},{case['size']},{case['cin']}] "
            f"k={case['kernel']} s={case['stride']} cout={case['cout']}")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "")
        flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), [])
        return {"model": name, "avx512": sorted(f for f in flags if f.startswith("avx512"))}
    except OSError:
        return {"model": platform.processor(), "avx512": []}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=20, help="op executions per process")
    parser.add_argument("--trials", type=int, default=3, help="processes per case and setting")
    parser.add_argument("--json", default="results/benchmarks/onednn_crash_repro.json")
    args = parser.parse_args()
    import tensorflow as tf  # only for the version

    rows = []
    all_cases = cases()
    for i, case in enumerate(all_cases):
        row = {"case": describe(case), **case, "results": {}}
        envs = ENVS if i == 0 or case["op"] == "matmul" else {"default": {}}
        for env_name, env in envs.items():
            runs = [run_case(case, args.reps, env) for _ in range(args.trials)]
            crashes = sum(r["status"] != "ok" for r in runs)
            errors = [r["rel_err"] for r in runs if r["rel_err"] is not None]
            row["results"][env_name] = {"crashed_processes": crashes, "processes": len(runs),
                                        "max_rel_err": max(errors) if errors else None,
                                        "messages": sorted({r["message"] for r in runs if r["message"]})}
            print(f"[{i + 1}/{len(all_cases)}] {row['case']:<64} {env_name:<24} crashed {crashes}/{len(runs)} "
                  f"{'; '.join(row['results'][env_name]['messages'])[:60]}", flush=True)
        rows.append(row)
    report = {"tensorflow": tf.__version__, "cpu": cpu_model(), "reps": args.reps, "trials": args.trials,
              "cases": rows}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
