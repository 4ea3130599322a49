"""Throughput of ``python -m lrfr_tf.evaluate`` on the pretrained MobileFaceNet: the old configuration against
the new one and each lever alone, in one process, then one full run of the command.

Subset: the first ``--images`` LFW images (aligned112) at ``--sizes`` (0 = full resolution), embedded with a
fresh cache per round; ``--rounds`` rounds, every configuration once per round in turn, so that the load of
other processes hits all alike. Per configuration: median wall and CPU milliseconds per embedding (CPU =
``time.process_time``, every thread of this process), ratio to the old configuration's medians of the same
run, and whether its embeddings equal the old configuration's bit for bit.

  * old: what the committed reference ran: the file's graph, one interpreter with 2 XNNPACK threads, batch 2
    (the file's fixed batch), each size degraded then embedded, one chunk of 256 after another;
  * threads1: the same with one XNNPACK thread (CPU per embedding without thread synchronisation);
  * parallel: two one-thread interpreters, each on its share of every chunk's batches (Python threads;
    LiteRT releases the GIL);
  * fused: the graph with TOCO's decomposed PReLU (relu(x) + c * (x - |x|), 5 ops) as one PRELU op
    (``lrfr_tf.litert.fuse_decomposed_prelu``), one interpreter with 2 XNNPACK threads;
  * fused_parallel: fused graph, two one-thread interpreters;
  * fused_parallel_batch4: the same with batch 4 (the fused graph's final RESHAPE [2, 192] made [-1, 192],
    resize_tensor_input + allocate_tensors: XNNPACK refuses to reshape the file's graph);
  * new: what ``lrfr_tf.evaluate`` runs now: fused graph, two one-thread interpreters, batch 2, every size's
    inputs in one stream (``lrfr_tf.eval.imageset.embed_inputs``) with the next chunk degraded in a
    background thread;
  * keras: the TFLite model imported to Keras (``load_mobilefacenet_tflite``), batch 64 (``--keras_rounds``).

Stages (``stage_costs``): CPU per embedding of the degradation, the preparation and one-thread inference of
the file's and the fused graph, each alone.

Full run (unless ``--no_full_run``): ``python -m lrfr_tf.evaluate --model=MobileFaceNet.tflite --preprocessing=arcface
--data=LFW --protocol=sweep,published --save_scores=false`` in a subprocess, and with ``--old_source`` the old
code's at the same time: wall seconds, CPU seconds of each child (user + system from ``os.wait4``), the load
average before and after, and whether every verification figure of its report.json equals
results/reference/report.json's.

  python benchmarks/evaluate_throughput.py                         # subset + full run (~10-30 min, by load)
  python benchmarks/evaluate_throughput.py --no_full_run --rounds=3 --json=/tmp/t.json --png=/tmp/t.png
  python benchmarks/evaluate_throughput.py --no_full_run && python benchmarks/evaluate_throughput.py --full_run_only
  mkdir -p /tmp/old/src && ln -s "$PWD/../shared" /tmp/old/shared && git archive 6812a88^ lrfr_tf | tar -x -C /tmp/old/src
  python benchmarks/evaluate_throughput.py --full_run_only --old_source=/tmp/old/src   # old and new full runs together
  python benchmarks/evaluate_throughput.py --plot_only             # re-draw the PNG from the JSON
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

MODEL = "../shared/data/models/mobilefacenet/MobileFaceNet.tflite"
LFW = "../shared/data/lfw"
REFERENCE = ROOT / "results" / "reference" / "report.json"
FULL_COMMAND = ["-m", "lrfr_tf.evaluate", f"--model={MODEL}", "--preprocessing=arcface", f"--data={LFW}",
                "--protocol=sweep,published", "--save_scores=false"]


def resizable_batch(data: bytes) -> bytes:
    """``data`` with every RESHAPE's constant target shape [B, ...] made [-1, ...] (benchmark only)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(data, 0)
    graph = model.subgraphs[0]
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) != schema.BuiltinOperator.RESHAPE:
            continue
        buffer = model.buffers[graph.tensors[op.inputs[1]].buffer]
        shape = np.frombuffer(np.asarray(buffer.data, np.uint8).tobytes(), np.int32).copy()
        shape[0] = -1
        buffer.data = np.frombuffer(shape.tobytes(), np.uint8)
        if op.builtinOptions is not None and getattr(op.builtinOptions, "newShape", None) is not None:
            op.builtinOptions.newShape = [-1, *list(op.builtinOptions.newShape)[1:]]
    builder = flatbuffers.Builder(len(data) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def interpreter(data: bytes, threads: int, batch: int | None = None):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data, num_threads=threads)
    if batch is not None:
        interp.resize_tensor_input(interp.get_input_details()[0]["index"], [batch, 112, 112, 3])
    interp.allocate_tensors()
    return interp


def tflite_embedder(graph: bytes, interpreters: int, threads: int, batch: int = 2):
    """The harness's TFLiteEmbedder running ``graph`` on ``interpreters`` interpreters of ``threads`` threads."""
    from lrfr_tf.eval.embedders import TFLiteEmbedder

    embedder = TFLiteEmbedder(MODEL, "arcface", num_threads=1)
    embedder._interpreters = [interpreter(graph, threads, batch if batch != 2 else None) for _ in range(interpreters)]
    embedder.batch_size = batch
    return embedder


def old_embed_images(embedder, image_set, indices, size, degradation, cache, chunk: int = 256):
    """``lrfr_tf.eval.imageset.embed_images`` before the change (commit 6812a88^): degrade, then embed, per chunk."""
    indices = np.asarray(indices, np.int64)
    ids = [image_set.ids[i] for i in indices]
    key = degradation.key(size, image_set.image_size)
    todo = {}
    for pos in cache.missing(embedder.fingerprint, key, ids):
        todo.setdefault(ids[pos], int(indices[pos]))
    images = image_set.images(False)
    order = list(todo.values())
    for start in range(0, len(order), chunk):
        sel = order[start:start + chunk]
        cache.put(embedder.fingerprint, key, [image_set.ids[i] for i in sel], embedder.embed(degradation(images[sel], size)))
    return cache.get(embedder.fingerprint, key, ids)


def run_config(config, image_set, indices, sizes, degradation):
    """Embed ``indices`` at every size with a fresh cache -> (wall s, CPU s, embeddings [sizes * n, D])."""
    from lrfr_tf.eval.cache import EmbeddingCache
    from lrfr_tf.eval.imageset import embed_images, embed_inputs

    cache = EmbeddingCache()
    embedder = config["embedder"]
    wall, cpu = time.perf_counter(), time.process_time()
    if config["stream"]:
        embed_inputs(embedder, image_set, {s: indices for s in sizes}, degradation, cache, progress=False)
        out = [embed_images(embedder, image_set, indices, s, degradation, cache, progress=False) for s in sizes]
    else:
        out = [old_embed_images(embedder, image_set, indices, s, degradation, cache) for s in sizes]
    return time.perf_counter() - wall, time.process_time() - cpu, np.concatenate(out)


def subset_benchmark(args, log=print) -> dict:
    from lrfr_tf.eval.degradation import ResolutionDegradation
    from lrfr_tf.eval.embedders import KerasEmbedder
    from lrfr_tf.eval.imageset import ImageSet
    from lrfr_tf.eval.lfw import PairsData
    from lrfr_tf.litert import fuse_decomposed_prelu
    from lrfr_tf.models.mobilefacenet import load_mobilefacenet_tflite

    data = Path(MODEL).read_bytes()
    fused = fuse_decomposed_prelu(data)
    pairs = PairsData(LFW)
    image_set = ImageSet(pairs.image_set.root, pairs.image_set.paths[:args.images], "benchmark")
    image_set.images(False)
    indices = np.arange(len(image_set))
    degradation = ResolutionDegradation()
    configs = [
        dict(name="old", embedder=tflite_embedder(data, 1, 2), stream=False),
        dict(name="threads1", embedder=tflite_embedder(data, 1, 1), stream=False),
        dict(name="parallel", embedder=tflite_embedder(data, 2, 1), stream=False),
        dict(name="fused", embedder=tflite_embedder(fused, 1, 2), stream=False),
        dict(name="fused_parallel", embedder=tflite_embedder(fused, 2, 1), stream=False),
        dict(name="fused_parallel_batch4", embedder=tflite_embedder(resizable_batch(fused), 2, 1, batch=4), stream=False),
        dict(name="new", embedder=tflite_embedder(fused, 2, 1), stream=True),
    ]
    if args.keras_rounds:
        configs.append(dict(name="keras", embedder=KerasEmbedder(load_mobilefacenet_tflite(MODEL), "arcface", batch_size=64,
                                                                 model_hash="keras-import"), stream=False))
    times = {c["name"]: [] for c in configs}
    reference = None
    identical = {}
    max_abs = {}
    for r in range(args.rounds):
        for c in configs:
            if c["name"] == "keras" and r >= args.keras_rounds:
                continue
            wall, cpu, emb = run_config(c, image_set, indices, args.sizes, degradation)
            if r == 0 and c["name"] == "keras":  # the first call traces the function: time the second round
                wall, cpu, emb = run_config(c, image_set, indices, args.sizes, degradation)
            reference = emb if c["name"] == "old" and reference is None else reference
            identical[c["name"]] = bool(identical.get(c["name"], True) and np.array_equal(emb, reference))
            max_abs[c["name"]] = float(np.max(np.abs(emb - reference)))
            times[c["name"]].append((wall, cpu))
            log(f"round {r + 1}/{args.rounds} {c['name']:22s} wall {1e3 * wall / len(emb):6.2f} cpu "
                f"{1e3 * cpu / len(emb):6.2f} ms/embedding, identical to old: {identical[c['name']]}")
    n = len(indices) * len(args.sizes)
    rows = []
    for c in configs:
        wall = statistics.median(t[0] for t in times[c["name"]]) / n
        cpu = statistics.median(t[1] for t in times[c["name"]]) / n
        rows.append(dict(name=c["name"], rounds=len(times[c["name"]]), wall_ms_per_embedding=1e3 * wall,
                         cpu_ms_per_embedding=1e3 * cpu, identical_to_old=identical[c["name"]],
                         max_abs_diff_vs_old=max_abs[c["name"]]))
    old = rows[0]
    for row in rows:
        row["wall_ratio_vs_old"] = row["wall_ms_per_embedding"] / old["wall_ms_per_embedding"]
        row["cpu_ratio_vs_old"] = row["cpu_ms_per_embedding"] / old["cpu_ms_per_embedding"]
    return dict(images=len(indices), sizes=list(args.sizes), embeddings_per_round=n, configs=rows)


def stage_costs(args, rounds: int = 3) -> dict:
    """CPU ms per embedding of each stage alone, one thread each (medians of ``rounds``): the degradation
    (two tf.image.resize), the preparation (``prepare_images``) and one-thread inference of the file's and the
    fused graph; with the full run's CPU seconds they bound its wall time on 2 idle cores."""
    from lrfr_tf.eval.degradation import ResolutionDegradation
    from lrfr_tf.eval.embedders import prepare_images
    from lrfr_tf.eval.lfw import PairsData
    from lrfr_tf.litert import fuse_decomposed_prelu
    from lrfr_tf.preprocessing import ARCFACE

    data = Path(MODEL).read_bytes()
    images = PairsData(LFW).image_set
    faces = np.asarray(images.images(False)[:args.images])
    degradation = ResolutionDegradation()
    graphs = {"inference_file_graph": interpreter(data, 1), "inference_fused_graph": interpreter(fuse_decomposed_prelu(data), 1)}
    times = {k: [] for k in ("degrade", "prepare", *graphs)}
    n = len(faces) * len(args.sizes)
    for _ in range(rounds):
        cpu = time.process_time()
        degraded = [degradation(faces, s) for s in args.sizes]
        times["degrade"].append(time.process_time() - cpu)
        cpu = time.process_time()
        prepared = np.concatenate([prepare_images(x, ARCFACE) for x in degraded])
        times["prepare"].append(time.process_time() - cpu)
        for name, interp in graphs.items():
            index = interp.get_input_details()[0]["index"]
            cpu = time.process_time()
            for start in range(0, len(prepared) - 1, 2):
                interp.set_tensor(index, prepared[start:start + 2])
                interp.invoke()
            times[name].append(time.process_time() - cpu)
    return {f"{k}_cpu_ms_per_embedding": 1e3 * statistics.median(v) / n for k, v in times.items()}


def compare_with_reference(report_path: Path) -> dict:
    """Every verification entry of the run's report.json against the committed reference's, field by field."""
    new = json.loads(report_path.read_text())["models"][0]["verification"]
    ref = json.loads(REFERENCE.read_text())["models"][0]["verification"]
    differing = {name: sorted(k for k in set(entry) | set(ref.get(name, {})) if entry.get(k) != ref.get(name, {}).get(k))
                 for name, entry in new.items()}
    differing = {k: v for k, v in differing.items() if v}
    return dict(protocols=len(new), missing_from_run=sorted(set(ref) - set(new)), differing=differing,
                identical=not differing and set(new) == set(ref))


def full_runs(sources: dict, log=print, on_result=None) -> dict:
    """The full command once per {label: source folder of lrfr_tf (None: this checkout)}, all at the same time
    (so that the load hits them alike); per run: wall seconds, CPU seconds (the child's rusage from
    ``os.wait4``: user + system, every thread), the load average around it and the comparison with the
    committed reference; ``on_result(results)`` after each run ends. A run that fails (or is killed) is recorded
    with its exit code."""
    runs = {}
    for label, source in sources.items():
        out = Path(tempfile.mkdtemp(prefix=f"evaluate_throughput_{label}_"))
        cwd = source or ROOT  # ``-m`` puts the working directory first on sys.path: the old run starts in its folder
        if not Path(cwd, MODEL).is_file():
            raise FileNotFoundError(f"{Path(cwd, MODEL)}: the old source needs ../shared beside it (a symlink will do)")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p))
        log(f"full run ({label}{', lrfr_tf from ' + source if source else ''}): python {' '.join(FULL_COMMAND)} --out=OUT")
        proc = subprocess.Popen([sys.executable, *FULL_COMMAND, f"--out={out}"], cwd=cwd, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs[label] = dict(proc=proc, out=out, start=time.perf_counter(), load_before=os.getloadavg())
    results = {}
    while runs:
        pid, status, usage = os.wait4(-1, 0)
        label = next((k for k, r in runs.items() if r["proc"].pid == pid), None)
        if label is None:
            continue
        run = runs.pop(label)
        run["proc"].returncode = os.waitstatus_to_exitcode(status)
        if run["proc"].returncode != 0:
            results[label] = dict(source=sources[label] or "this checkout", exit_code=run["proc"].returncode,
                                  wall_s=time.perf_counter() - run["start"], cpu_s=usage.ru_utime + usage.ru_stime)
            log(f"full run {label} failed with exit code {run['proc'].returncode}")
            on_result and on_result(results)
            continue
        report = json.loads((run["out"] / "report.json").read_text())
        results[label] = dict(
            source=sources[label] or "this checkout", command="python " + " ".join(FULL_COMMAND) + " --out=OUT",
            wall_s=time.perf_counter() - run["start"], cpu_s=usage.ru_utime + usage.ru_stime,
            cpu_user_s=usage.ru_utime, cpu_system_s=usage.ru_stime, max_rss_mb=usage.ru_maxrss / 1024,
            loadavg_before=list(run["load_before"]), loadavg_after=list(os.getloadavg()),
            report_run_time_s=report["run_time_s"], cache=report["models"][0]["cache"],
            model=report["models"][0]["model"], reference=compare_with_reference(run["out"] / "report.json"))
        log(f"full run {label}: wall {results[label]['wall_s']:.0f} s, CPU {results[label]['cpu_s']:.0f} s, "
            f"identical to the reference: {results[label]['reference']['identical']}")
        on_result and on_result(results)
    return results


def plot(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = doc["subset"]["configs"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 1.3]})
    ax = axes[0]
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["wall_ms_per_embedding"] for r in rows], 0.4, label="wall")
    ax.bar(x + 0.2, [r["cpu_ms_per_embedding"] for r in rows], 0.4, label="CPU (all threads)")
    for i, r in enumerate(rows):
        ax.text(i, max(r["wall_ms_per_embedding"], r["cpu_ms_per_embedding"]) * 1.02,
                f"x{1 / r['cpu_ratio_vs_old']:.2f} CPU\n{'same bits' if r['identical_to_old'] else 'DIFFERS'}",
                ha="center", fontsize=7)
    ax.set_xticks(x, [r["name"] for r in rows], rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("ms per embedding (median)")
    s = doc["subset"]
    meta = doc["meta"].get("subset_meta", doc["meta"])
    ax.set_title(f"{s['images']} LFW images at sizes {s['sizes']} (0 = full res.), load {meta['loadavg_start'][0]:.1f} at start",
                 fontsize=9)
    ax.legend(fontsize=8)
    ax = axes[1]
    labels, walls, cpus = [], [], []
    ref = doc.get("reference_run")
    if ref:
        labels.append("old: reference\n(+ identification)")
        walls.append(ref["wall_s"])
        cpus.append(np.nan)
    runs = {**doc.get("full_runs", {}), **doc.get("other_full_runs", {})}
    for label, run in sorted(runs.items(), key=lambda kv: kv[0] != "old"):
        if "exit_code" in run or run.get("wall_s") is None:
            continue
        loads = [f"{run[k][0]:.0f}" for k in ("loadavg_before", "loadavg_after") if run.get(k)]
        labels.append(f"{label}\n(load {'-'.join(loads)})")
        walls.append(run["wall_s"])
        cpus.append(run["cpu_s"])
    x = np.arange(len(labels))
    ax.bar(x - 0.2, walls, 0.4, label="wall s")
    ax.bar(x + 0.2, cpus, 0.4, label="CPU s")
    ax.axhline(600, color="k", ls="--", lw=0.8, label="target (wall, idle)")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_title("full run: sweep + published", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keras_rounds", type=int, default=2)
    parser.add_argument("--no_full_run", action="store_true", help="only the subset")
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "benchmarks" / "evaluate_throughput.json")
    parser.add_argument("--png", type=Path, default=ROOT / "results" / "benchmarks" / "evaluate_throughput.png")
    parser.add_argument("--plot_only", action="store_true")
    parser.add_argument("--old_source", help="a folder holding the old lrfr_tf package (e.g. from git archive): its "
                        "full run runs at the same time as the new one")
    parser.add_argument("--full_run_only", action="store_true", help="keep the JSON's subset figures, add a full run")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if args.plot_only:
        plot(json.loads(args.json.read_text()), args.png)
        return
    import ai_edge_litert  # noqa: F401
    import tensorflow as tf

    reference = json.loads(REFERENCE.read_text())
    doc = dict(meta=dict(started_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), argv=sys.argv[1:],
                         loadavg_start=list(os.getloadavg()), cpu_count=os.cpu_count(), platform=platform.platform(),
                         python=platform.python_version(), numpy=np.__version__, tensorflow=tf.__version__,
                         git_commit=subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                                   text=True).stdout.strip()),
               reference_run=dict(wall_s=reference["run_time_s"], note="results/reference: the old code, sweep + "
                                  "published + CelebA identification, load about 2-3; CPU time not recorded"))
    if args.full_run_only:
        earlier = json.loads(args.json.read_text())
        doc["subset"], doc["meta"]["subset_meta"] = earlier["subset"], earlier["meta"].get("subset_meta", earlier["meta"])
        doc["stages"] = earlier.get("stages")
    else:
        doc["subset"] = subset_benchmark(args)
        doc["meta"]["loadavg_after_subset"] = list(os.getloadavg())
        doc["stages"] = stage_costs(args)
    print(json.dumps(doc["stages"], indent=1))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=1))
    if not args.no_full_run:
        def write(results):
            doc["full_runs"] = results
            args.json.write_text(json.dumps(doc, indent=1))
            plot(doc, args.png)

        full_runs({"new": None, **({"old": args.old_source} if args.old_source else {})}, on_result=write)
    doc["meta"]["loadavg_end"] = list(os.getloadavg())
    args.json.write_text(json.dumps(doc, indent=1))
    plot(doc, args.png)
    for row in doc["subset"]["configs"]:
        print(f"{row['name']:22s} wall {row['wall_ms_per_embedding']:6.2f} cpu {row['cpu_ms_per_embedding']:6.2f} ms/embedding"
              f"  x{1 / row['cpu_ratio_vs_old']:.2f} CPU  x{1 / row['wall_ratio_vs_old']:.2f} wall  "
              f"identical {row['identical_to_old']}")


if __name__ == "__main__":
    main()
