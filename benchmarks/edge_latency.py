"""Per-face LiteRT latency of every exported TFLite variant of MobileFaceNet, and lrfr_tf.serve throughput.

Models, all measured in one process (exports written by ``lrfr_tf.export.exporter.export_model`` with
every format of ``exporter.FORMATS``, gate off, int8 calibrated on the packaged face sample):

  * reference: the pretrained ``MobileFaceNet.tflite`` as shipped (fixed batch [2, 112, 112, 3]: its
    per-face latency is the per-invoke latency / 2);
  * mobilefacenet_*: the pretrained model (PReLU) imported to Keras and exported in every TFLite format;
  * mobilefacenet_relu_*: the same architecture with ReLU instead of PReLU (the pretrained conv weights
    copied, so weight ranges are realistic; its accuracy is meaningless, only its speed is measured).

Per .tflite and per kernel set, at num_threads 1 and 2, batch 1 (the reference: batch 2):

  * xnnpack: LiteRT's default, the XNNPACK delegate applied at allocation; the nodes it took are
    counted from the interpreter's graph (a DELEGATE node replaces a connected set of the model's ops:
    walking back from its outputs to its inputs finds them), the rest run as LiteRT builtin kernels;
  * builtin: ``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``, every op on LiteRT's own kernels
    (optimized float / integer kernels through ruy, no XNNPACK).

Timing: ``--runs`` invokes per configuration after ``--warmup`` untimed ones, in blocks of ``--block``
taken round-robin over all configurations, so that the load of other processes on a shared machine hits
every model alike; median and p90 per face; ratio to the reference (xnnpack, same thread count) and to
the same family's fp32. The embeddings of 8 faces are checked finite and compared (cosine) with the
family's fp32 export (the reference with the PReLU fp32 export).

Serving: ``python -m lrfr_tf.serve`` in a subprocess on a free 127.0.0.1 port over the pretrained
model's SavedModel, its default batching (max_batch_size 32, 1 ms timeout); ``--clients`` threads POST
``:predict`` (signature ``embed``, uint8 112x112 faces as JSON instances, keep-alive connections, bodies
encoded once) for ``--serve_seconds`` and at least 2 requests each, at each request batch: faces/s and
request latency. Then, in this process without HTTP, the server's stages of one request: JSON parsing to
the input tensor, the SavedModel call, the response.

  python benchmarks/edge_latency.py                 # ~17 min on 2 cores at load 7, the two exports ~8 min of it
  python benchmarks/edge_latency.py --quick --out=/tmp/edge.json     # smoke run, ~5 min
  python benchmarks/edge_latency.py --work_dir=/tmp/edge             # keep the exports; a rerun reuses them
  python benchmarks/edge_latency.py --plot_only                      # re-print and re-draw from the JSON
  python benchmarks/edge_latency.py --gate_data=../shared/data/lfw --calibration_data=../shared/data/celeba/aligned112 \
      --work_dir=/tmp/edge      # the README's table: the pretrained export gated on full LFW in the same run

With ``--gate_data`` the pretrained model's export runs the export's parity gate on that LFW-format folder
and each model's row carries its gate figures (a format that fails the gate is measured all the same,
from the ``failed-*`` folder the export keeps), so sizes, latencies and parity come from one run.
"""

from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tqdm  # noqa: E402

REFERENCE = "../shared/data/models/mobilefacenet/MobileFaceNet.tflite"
KERNELS = ("xnnpack", "builtin")
CHECK_FACES = 8
GIT_AT_EXPORT = "edge_latency_git.json"  # beside an export this benchmark made: the checkout's state then


# ----------------------------------------------------------------------------------------------- exports


def relu_twin(prelu_model, path: str) -> None:
    """Save to ``path`` (.keras) the MobileFaceNet of ``prelu_model``'s config with ReLU, its conv weights copied."""
    from lrfr_tf.models import create_backbone

    config = {k: v for k, v in prelu_model.get_config().items() if k not in ("trainable", "dtype", "name")}
    config["activation"] = "relu"
    relu = create_backbone("mobilefacenet", **config)
    relu(np.zeros((1, *relu.preprocessing.size, 3), np.float32))
    for dst, src in zip(relu.conv_units(), prelu_model.conv_units(), strict=True):
        dst.conv.set_weights(src.conv.get_weights())
    relu.save(path)


def complete_export(model_dir: str, formats, gated: bool = False) -> str | None:
    """The newest export folder under ``model_dir`` (a version, or with ``gated`` also a ``failed-*`` one) made
    with every one of ``formats`` (and with ``gated``, with the parity gate run), else None."""
    if not os.path.isdir(model_dir):
        return None
    folders = [d for d in os.listdir(model_dir) if d.isdigit() or (gated and d.startswith("failed-"))]
    found = []
    for d in folders:
        report = os.path.join(model_dir, d, "export.json")
        if not os.path.isfile(report):
            continue
        doc = json.loads(Path(report).read_text())
        if set(formats) <= set(doc["formats"]) and (doc.get("gate") is not None or not gated):
            found.append((doc["created"], os.path.join(model_dir, d)))
    return max(found)[1] if found else None


def serving_base(export_dir: str, work: str) -> str:
    """A ``--model_base_path`` whose newest version is ``export_dir``: its own parent when it is a version, else
    (a ``failed-*`` export, which a server never loads) ``work/serving/NAME/1`` linked to it, so that the serving
    figures are measured all the same."""
    if os.path.basename(export_dir).isdigit():
        return os.path.dirname(export_dir)
    base = os.path.join(work, "serving", os.path.basename(os.path.dirname(export_dir)))
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    os.symlink(os.path.abspath(export_dir), os.path.join(base, "1"))
    return base


def export_all(reference: str, work: str, calibration_count: int, log=print, gate_data=None,
               calibration_dir: str | None = None) -> dict:
    """Export the pretrained model and its ReLU twin in every format (reusing complete exports in ``work``);
    with ``gate_data`` (a ``parity.GateData``) the pretrained model's export runs the parity gate on it.

    Returns {"formats": exporter.FORMATS, "families": {family: {"dir": export folder, "reused": bool,
    "created": time, "git": the checkout when it was exported (None if unknown), "timings": {...},
    "gate": the gate report or None}}}."""
    from lrfr_tf.export import exporter
    from lrfr_tf.export.sources import load_source

    formats = list(exporter.FORMATS)
    out = os.path.join(work, "exports")
    done = {}
    faces = pretrained = None
    for family, name in (("prelu", "mobilefacenet"), ("relu", "mobilefacenet_relu")):
        gated = gate_data is not None and family == "prelu"
        found = complete_export(os.path.join(out, name), formats, gated)
        if found:
            report = json.loads(Path(found, "export.json").read_text())
            made_at = Path(found, GIT_AT_EXPORT)
            done[family] = {"dir": found, "reused": True, "timings": report["timings"], "created": report["created"],
                            "git": json.loads(made_at.read_text()) if made_at.is_file() else None,
                            "gate": report.get("gate")}
            log(f"{name}: reusing {found}")
            continue
        pretrained = pretrained or load_source(reference, name="mobilefacenet")
        if family == "prelu":
            source = pretrained
        else:
            keras_path = os.path.join(work, "mobilefacenet_relu.keras")
            relu_twin(pretrained.model, keras_path)
            source = load_source(keras_path, name=name)
        if faces is None:
            faces = exporter.load_calibration_faces(calibration_dir or exporter.default_calibration_dir(),
                                                    calibration_count, source.preprocessing.aligned_size)
        log(f"{name}: exporting {', '.join(formats)} ({len(faces)} calibration faces"
            f"{', gate on ' + gate_data.root if gated else ''})")
        t = time.time()
        try:
            report = exporter.export_model(source, out, name, formats, calibration_faces=faces, gate=gated,
                                           gate_data=gate_data if gated else None,
                                           log=lambda m, name=name: log(f"  {name}: {m}"))
            path = report["path"]
        except exporter.GateFailed as failed:  # measured all the same: the table says which formats fail
            path = failed.where
            report = json.loads(Path(path, "export.json").read_text())
            log(f"{name}: the parity gate failed (kept in {path}):\n{failed}")
        git = git_state()
        Path(path, GIT_AT_EXPORT).write_text(json.dumps(git))
        done[family] = {"dir": path, "reused": False, "timings": report["timings"],
                        "created": report["created"], "git": git, "gate": report.get("gate")}
        log(f"{name}: exported in {time.time() - t:.0f} s -> {path}")
    return {"formats": formats, "families": done}


def list_models(reference: str, exports: dict, work: str) -> list[dict]:
    """Every .tflite to measure: the reference first, then each family's exports in format order."""
    models = [dict(name="reference", family="reference", format="reference", path=reference,
                   file=os.path.relpath(os.path.abspath(reference), REPO))]
    for family, info in exports["families"].items():
        found = {}
        for path in sorted(glob.glob(os.path.join(info["dir"], "tflite", "*.tflite"))):
            meta = json.loads(Path(os.path.splitext(path)[0] + ".json").read_text())
            found[meta["format"]] = path
        order = [f for f in exports["formats"] if f in found] + sorted(set(found) - set(exports["formats"]))
        for fmt in order:
            stem = os.path.splitext(os.path.basename(found[fmt]))[0]
            models.append(dict(name=stem, family=family, format=fmt, path=found[fmt],
                               file=os.path.relpath(found[fmt], work),
                               gate=((info.get("gate") or {}).get("formats") or {}).get(fmt)))
    return models


# ----------------------------------------------------------------------------------------------- LiteRT


def make_interpreter(path: str, kernels: str, threads: int, batch: int | None = 1):
    """An allocated LiteRT interpreter of ``path`` with input batch ``batch`` (a fixed batch is kept)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = {"xnnpack": OpResolverType.AUTO, "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}[kernels]
    interp = Interpreter(model_path=path, num_threads=threads, experimental_op_resolver_type=resolver)
    (inp,) = interp.get_input_details()
    signature = inp.get("shape_signature", inp["shape"])
    if batch is not None and signature[0] == -1:
        interp.resize_tensor_input(inp["index"], [batch, *inp["shape"][1:]])
    interp.allocate_tensors()
    return interp


def delegate_coverage(interp) -> dict:
    """The model's ops (by name) and which of them the delegates took: a DELEGATE node stands for the connected
    ops between its input and output tensors, found by walking back from its outputs through their producers."""
    raw = interp._interpreter  # the node list holds the model's ops, then one DELEGATE node per partition
    nodes = [(raw.NodeName(i), list(raw.NodeInputs(i)), list(raw.NodeOutputs(i))) for i in range(raw.NumNodes())]
    original = [i for i, (name, _, _) in enumerate(nodes) if name != "DELEGATE"]
    producer = {t: i for i in original for t in nodes[i][2]}
    taken = set()
    for name, inputs, outputs in nodes:
        if name != "DELEGATE":
            continue
        stop, stack = set(inputs), list(outputs)
        while stack:
            t = stack.pop()
            i = producer.get(t)
            if t in stop or i is None or i in taken:
                continue
            taken.add(i)
            stack.extend(u for u in nodes[i][1] if u >= 0)
    ops, left = {}, {}
    for i in original:
        ops[nodes[i][0]] = ops.get(nodes[i][0], 0) + 1
        if i not in taken:
            left[nodes[i][0]] = left.get(nodes[i][0], 0) + 1
    return dict(ops=len(original), delegated_ops=len(taken), partitions=len(nodes) - len(original),
                op_counts=dict(sorted(ops.items())), not_delegated=dict(sorted(left.items())))


def model_input(interp, faces: np.ndarray) -> np.ndarray:
    """``faces`` (normalised float32 [N, h, w, 3]) as the interpreter's input: quantised for an int input."""
    (inp,) = interp.get_input_details()
    dtype = np.dtype(inp["dtype"])
    if dtype == np.float32:
        return faces.astype(np.float32)
    scale, zero = inp["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(faces / scale + zero), info.min, info.max).astype(dtype)


def model_output(interp) -> np.ndarray:
    (out,) = interp.get_output_details()
    y = interp.get_tensor(out["index"]).astype(np.float32)
    scale, zero = out["quantization"]
    return (y - zero) * scale if scale else y


def embed(interp, faces: np.ndarray) -> np.ndarray:
    """Embeddings of ``faces`` one invoke per input batch (the reference: pairs)."""
    (inp,) = interp.get_input_details()
    batch = int(inp["shape"][0])
    rows = []
    for a in range(0, len(faces), batch):
        interp.set_tensor(inp["index"], model_input(interp, faces[a:a + batch]))
        interp.invoke()
        rows.append(model_output(interp))
    return np.concatenate(rows)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def summarize(seconds: list[float], batch: int) -> dict:
    per_face = np.asarray(seconds) * 1e3 / batch
    return dict(ms_per_face_median=float(np.median(per_face)), ms_per_face_p90=float(np.percentile(per_face, 90)),
                ms_per_face_min=float(per_face.min()), runs=len(per_face))


def measure(models: list[dict], faces: np.ndarray, threads: list[int], runs: int, warmup: int, block: int,
            log=print) -> dict:
    """Size, delegate coverage, output check and per-face latency of every model x kernels x threads."""
    configs = []
    for m in models:
        m["size_bytes"] = os.path.getsize(m["path"])
        for kernels in KERNELS:
            for n in threads:
                interp = make_interpreter(m["path"], kernels, n)
                configs.append(dict(model=m, kernels=kernels, threads=n, interp=interp, times=[]))
        check = configs[-len(KERNELS) * len(threads)]["interp"]  # xnnpack, first thread count
        coverage = delegate_coverage(check)
        m["ops"] = coverage.pop("op_counts")
        m["xnnpack"] = coverage
        (inp,), (out,) = check.get_input_details(), check.get_output_details()
        m["input"] = dict(dtype=np.dtype(inp["dtype"]).name,
                          shape=[int(s) for s in inp.get("shape_signature", inp["shape"])],
                          quantized=bool(inp["quantization"][0]))
        m["output_dtype"] = np.dtype(out["dtype"]).name
        m["embeddings"] = embed(check, faces[:CHECK_FACES])
        cov = m["xnnpack"]
        log(f"{m['name']}: {m['size_bytes'] / 1e6:.2f} MB, {m['input']['dtype']} input, XNNPACK took "
            f"{cov['delegated_ops']}/{cov['ops']} ops in {cov['partitions']} partition(s)"
            + (f", left {cov['not_delegated']}" if cov["not_delegated"] else ""))
    fp32 = {m["family"]: m["embeddings"] for m in models if m["format"] == "tflite_fp32"}
    fp32["reference"] = fp32.get("prelu")
    for m in models:
        emb = m.pop("embeddings")
        m["outputs_finite"] = bool(np.all(np.isfinite(emb)))
        if fp32.get(m["family"]) is not None and emb.shape == fp32[m["family"]].shape:
            c = cosines(emb, fp32[m["family"]])
            m["cosine_vs_family_fp32"] = dict(min=float(c.min()), mean=float(c.mean()), faces=len(c))

    for c in configs:  # every interpreter times the same face (the reference: twice, its fixed batch)
        if c["kernels"] == "builtin" and delegate_coverage(c["interp"])["partitions"]:
            raise RuntimeError(f"{c['model']['name']}: a delegate was applied with the builtin op resolver")
        (inp,) = c["interp"].get_input_details()
        c["batch"] = int(inp["shape"][0])
        c["interp"].set_tensor(inp["index"], model_input(c["interp"], np.repeat(faces[:1], c["batch"], axis=0)))
        for _ in range(warmup):
            c["interp"].invoke()
    rounds = -(-runs // block)
    loads = []
    bar = tqdm.tqdm(total=rounds * len(configs), desc="LiteRT invokes", unit="block")
    for r in range(rounds):
        order = configs[r % len(configs):] + configs[:r % len(configs)]  # rotate who goes first
        for c in order:
            invoke, times = c["interp"].invoke, c["times"]
            for _ in range(min(block, runs - r * block)):
                t = time.perf_counter()
                invoke()
                times.append(time.perf_counter() - t)
            bar.update(1)
        loads.append(os.getloadavg()[0])
        bar.set_postfix_str(f"load {loads[-1]:.1f}")
    bar.close()
    for c in configs:
        c["model"].setdefault("latency", {}).setdefault(c["kernels"], {})[str(c["threads"])] = dict(
            batch=c["batch"], **summarize(c["times"], c["batch"]))
        del c["interp"]
    ref = models[0]["latency"]["xnnpack"]
    for m in models:
        base = next((b for b in models if b["family"] == m["family"] and b["format"] == "tflite_fp32"), models[0])
        base = base["latency"]["xnnpack"]
        for kernels, per_thread in m["latency"].items():
            for n, row in per_thread.items():
                row["ratio_vs_reference"] = row["ms_per_face_median"] / ref[n]["ms_per_face_median"]
                row["ratio_vs_family_fp32"] = row["ms_per_face_median"] / base[n]["ms_per_face_median"]
        for n in m["latency"]["xnnpack"]:
            m["latency"]["xnnpack"][n]["speedup_vs_builtin"] = (m["latency"]["builtin"][n]["ms_per_face_median"]
                                                                / m["latency"]["xnnpack"][n]["ms_per_face_median"])
        m.pop("path")
    return dict(rounds=rounds, block=block, warmup=warmup, loadavg_1min_per_round=loads)


# ----------------------------------------------------------------------------------------------- serving


def start_server(base_path: str, timeout: float = 300.0):
    """``python -m lrfr_tf.serve`` on a free 127.0.0.1 port; returns (process, url) once it serves."""
    cmd = [sys.executable, "-m", "lrfr_tf.serve", f"--model_base_path={base_path}", "--host=127.0.0.1",
           "--rest_api_port=0", "--file_system_poll_wait_seconds=0"]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found, lines = {}, []

    def read():
        for line in proc.stdout:
            lines.append(line.rstrip())
            hit = re.search(r"serving model (\S+) at (http://\S+?)/v1/models/", line)
            if hit and "url" not in found:
                found.update(name=hit.group(1), url=hit.group(2))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.time() + timeout
    while "url" not in found:
        if proc.poll() is not None or time.time() > deadline:
            stop_server(proc)
            raise RuntimeError("lrfr_tf.serve did not start:\n" + "\n".join(lines[-20:]))
        time.sleep(0.2)
    return proc, found["url"], found["name"]


def stop_server(proc) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def predict_body(faces_u8: np.ndarray) -> bytes:
    return json.dumps({"signature_name": "embed", "instances": faces_u8.tolist()}).encode()


def load_clients(url: str, name: str, body: bytes, batch: int, clients: int, seconds: float, least: int = 2) -> dict:
    """``clients`` threads POSTing ``body`` for ``seconds`` (and at least ``least`` requests each): faces/s and
    request latencies."""
    host, port = url.removeprefix("http://").split(":")
    path = f"/v1/models/{name}:predict"
    latencies, errors = [], []
    lock = threading.Lock()

    def client(deadline, least):
        conn = http.client.HTTPConnection(host, int(port), timeout=300)
        mine = []
        try:
            while len(mine) < least or time.perf_counter() < deadline:
                t = time.perf_counter()
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    errors.append(f"HTTP {resp.status}: {data[:200]!r}")
                    break
                preds = json.loads(data)["predictions"]
                if len(preds) != batch or not np.all(np.isfinite(preds)):
                    errors.append(f"{len(preds)} predictions for {batch} faces, or non-finite values")
                    break
                mine.append(time.perf_counter() - t)
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    client(0.0, 1)  # warm-up: one request (the first model call at this batch)
    latencies.clear()
    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(start + seconds, least)) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"serving at batch {batch}: {errors[0]}")
    return dict(request_batch=batch, clients=clients, requests=len(latencies), faces=len(latencies) * batch,
                wall_s=wall, faces_per_s=len(latencies) * batch / wall,
                request_ms_median=1e3 * statistics.median(latencies),
                request_ms_p90=1e3 * float(np.percentile(latencies, 90)), body_bytes=len(body))


def request_bodies(faces_u8: np.ndarray, batches: list[int]) -> dict:
    """{batch: predict body of ``batch`` faces} (``faces_u8`` repeated as needed)."""
    return {b: predict_body(np.concatenate([faces_u8] * -(-b // len(faces_u8)))[:b]) for b in batches}


def measure_serving(base_path: str, faces_u8: np.ndarray, batches: list[int], clients: int, seconds: float,
                    log=print) -> dict:
    from lrfr_tf.serve.model_server import ServeConfig

    defaults = ServeConfig(model_base_path=base_path)  # the server runs with these (no batching flags given)
    bodies = request_bodies(faces_u8, batches)
    t = time.time()
    proc, url, name = start_server(base_path)
    startup = time.time() - t
    try:
        rows = []
        for b in batches:
            rows.append(load_clients(url, name, bodies[b], b, clients, seconds))
            log(f"serve batch {b}: {rows[-1]['faces_per_s']:.1f} faces/s, request median "
                f"{rows[-1]['request_ms_median']:.0f} ms ({clients} clients, {rows[-1]['requests']} requests)")
    finally:
        stop_server(proc)
    return dict(model=name, signature="embed", input="uint8 [N, 112, 112, 3] JSON instances",
                server_batching={k: getattr(defaults, k) for k in ("max_batch_size", "batch_timeout_micros",
                                                                   "max_enqueued_batches")},
                startup_s=startup, loadavg_1min=os.getloadavg()[0], rows=rows,
                stages=serving_stages(base_path, bodies, reps=3 if seconds < 5 else 7))


def serving_stages(base_path: str, bodies: dict, reps: int) -> list[dict]:
    """Where a request's time goes, in this process with no HTTP and no concurrency: the server's own request
    parsing (JSON to the input tensor), the SavedModel call and the response encoding (medians of ``reps``)."""
    from lrfr_tf.serve.model_versions import ModelVersions
    from lrfr_tf.serve.predict_request import prepare_predict
    from lrfr_tf.serve.tensors_json import predict_response

    versions = ModelVersions(base_path, None, 0, 1)
    versions.start()
    rows = []
    try:
        for b, body in bodies.items():
            times = {"parse": [], "model": [], "respond": []}
            for _ in range(reps + 1):  # the first is a warm-up
                t0 = time.perf_counter()
                prepared = prepare_predict(versions, versions.name, None, None, body)
                t1 = time.perf_counter()
                outputs = prepared.run(prepared.inputs)
                t2 = time.perf_counter()
                predict_response(outputs, prepared.request_format)
                t3 = time.perf_counter()
                for stage, seconds in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
                    times[stage].append(seconds)
            rows.append(dict(request_batch=b, reps=reps, **{f"{k}_ms_median": 1e3 * statistics.median(v[1:])
                                                             for k, v in times.items()}))
    finally:
        versions.stop()
    return rows


# ----------------------------------------------------------------------------------------------- report


def label(m: dict) -> str:
    return "reference (batch 2)" if m["family"] == "reference" else m["name"]


def print_table(doc: dict) -> None:
    threads = doc["meta"]["threads"]
    cols = "".join(f" {n}t p50  {n}t p90  x ref" for n in threads)
    builtin = f"builtin p50 ({'/'.join(map(str, threads))}t)"
    head = f"{'model':<30} {'MB':>6} {'XNNPACK ops':>12}{cols}   {builtin}  xnn speedup"
    print(head)
    print("-" * len(head))
    for m in doc["models"]:
        x, b = m["latency"]["xnnpack"], m["latency"]["builtin"]
        cov = m["xnnpack"]
        cells = "".join(f" {x[str(n)]['ms_per_face_median']:>6.2f} {x[str(n)]['ms_per_face_p90']:>6.2f} "
                        f"{x[str(n)]['ratio_vs_reference']:>6.2f}" for n in threads)
        builtin = "/".join(f"{b[str(n)]['ms_per_face_median']:.2f}" for n in threads)
        speed = "/".join(f"{x[str(n)]['speedup_vs_builtin']:.2f}" for n in threads)
        print(f"{label(m):<30} {m['size_bytes'] / 1e6:>6.2f} {cov['delegated_ops']:>5}/{cov['ops']:<3} "
              f"p{cov['partitions']}"
              f"{cells}   {builtin:>24}  {speed:>11}")
        if cov["not_delegated"]:
            print(f"{'':<30} not delegated: {cov['not_delegated']}")
    print("ms per face; x ref = median / reference median (XNNPACK, same threads); the reference runs batch 2 "
          "(per face = per invoke / 2), the others batch 1")
    if any(m.get("gate") for m in doc["models"]):
        print()
        print(readme_table(doc))
    for r in (doc.get("serving") or {}).get("rows", []):
        print(f"serving {doc['serving']['model']} batch {r['request_batch']:>2}, {r['clients']} clients: "
              f"{r['faces_per_s']:.1f} faces/s, request median {r['request_ms_median']:.0f} ms "
              f"p90 {r['request_ms_p90']:.0f} ms")
    for r in (doc.get("serving") or {}).get("stages", []):
        print(f"  one request of {r['request_batch']:>2} in-process: parse JSON {r['parse_ms_median']:.0f} ms, "
              f"SavedModel {r['model_ms_median']:.0f} ms, response {r['respond_ms_median']:.0f} ms")


def readme_table(doc: dict) -> str:
    """Markdown: per format of the pretrained model's export, size, parity (mean / min cosine to the source per
    size, accuracy), gate verdict and latency, all from this run (the README's "Export and serve" table)."""
    from lrfr_tf.export.parity import PARITY_SIZES

    gate = doc["meta"]["gate"]["prelu"]
    low = gate["data"]["protocols"][1]
    src = gate["source"]["accuracy"]
    ref = next(m for m in doc["models"] if m["family"] == "reference")
    ms = lambda m, n: m["latency"]["xnnpack"][n]["ms_per_face_median"]  # noqa: E731
    threads = [str(n) for n in doc["meta"]["threads"]]
    lines = [f"| format | size | mean cosine to source {'/'.join(map(str, PARITY_SIZES))} px | min cosine | "
             f"LFW 112 px | {low} | gate | ms/face {' / '.join(t + ' thr' for t in threads)} (x reference) |",
             "|---|---|---|---|---|---|---|---|",
             f"| source (imported Keras) | | | | {100 * src['hr']:.2f} | {100 * src[low]:.2f} | | "
             f"reference .tflite: {' / '.join(f'{ms(ref, n):.1f}' for n in threads)} |"]

    def row(name, size, g, latency):
        mean = " / ".join(f"{g['cosine'][str(s)]['mean']:.5f}" for s in PARITY_SIZES)
        low_cos = " / ".join(f"{g['cosine'][str(s)]['min']:.5f}" for s in PARITY_SIZES)
        acc = g["accuracy"]
        verdict = "pass" if g["passed"] else "fail: " + "; ".join(g["failures"])
        return (f"| {name} | {size} | {mean} | {low_cos} | {100 * acc['hr']:.2f} | {100 * acc[low]:.2f} | {verdict} | "
                f"{latency} |")

    if doc.get("saved_model_gate"):
        lines.append(row("SavedModel", "", doc["saved_model_gate"], ""))
    for m in doc["models"]:
        if m["family"] == "prelu" and m.get("gate"):
            latency = " / ".join(f"{ms(m, n):.1f} ({m['latency']['xnnpack'][n]['ratio_vs_reference']:.2f})"
                                 for n in threads)
            lines.append(row(m["format"], f"{m['size_bytes'] / 1e6:.2f} MB", m["gate"], latency))
    return "\n".join(lines)


def plot(doc: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models, threads = doc["models"], doc["meta"]["threads"]
    serving = (doc.get("serving") or {}).get("rows", [])
    fig, axes = plt.subplots(1, 2 if serving else 1, figsize=(15 if serving else 11, 0.55 * len(models) + 2.5),
                             squeeze=False, gridspec_kw={"width_ratios": [3, 1]} if serving else None)
    ax = axes[0][0]
    bars = [(k, n) for k in KERNELS for n in threads]
    colours = {("xnnpack", threads[0]): "tab:blue", ("builtin", threads[0]): "tab:orange"}
    if len(threads) > 1:
        colours.update({("xnnpack", threads[1]): "lightskyblue", ("builtin", threads[1]): "navajowhite"})
    h = 0.8 / len(bars)
    y = np.arange(len(models))
    for j, (k, n) in enumerate(bars):
        med = [m["latency"][k][str(n)]["ms_per_face_median"] for m in models]
        p90 = [m["latency"][k][str(n)]["ms_per_face_p90"] for m in models]
        ax.barh(y + (j - (len(bars) - 1) / 2) * h, med, h, xerr=[np.zeros(len(med)), np.subtract(p90, med)],
                color=colours.get((k, n), None), label=f"{k}, {n} thread{'s' if n > 1 else ''}", capsize=2)
    ax.set_yticks(y)
    names = []
    for m in models:
        cov = m["xnnpack"]
        names.append(f"{label(m)}\n{m['size_bytes'] / 1e6:.1f} MB, XNNPACK {cov['delegated_ops']}/{cov['ops']} ops")
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("ms per face (median, whisker to p90)")
    loads = [doc["meta"]["loadavg_start"][0], *doc["meta"].get("loadavg_1min_per_round", [])]
    ax.set_title(f"LiteRT {doc['meta']['ai_edge_litert']} per-face latency, batch 1 (reference: batch 2 / 2); "
                 f"1-min load average {min(loads):.1f}-{max(loads):.1f} on {doc['meta']['cpu_count']} cores",
                 fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8)
    if serving:
        ax = axes[0][1]
        ax.bar([str(r["request_batch"]) for r in serving], [r["faces_per_s"] for r in serving], color="tab:green")
        for i, r in enumerate(serving):
            ax.annotate(f"{r['faces_per_s']:.0f}/s\n{r['request_ms_median']:.0f} ms", (i, r["faces_per_s"]),
                        ha="center", va="bottom", fontsize=8)
        ax.set_xlabel("request batch")
        ax.set_ylabel("faces/s")
        ax.set_title(f"lrfr_tf.serve {doc['serving']['model']}, {serving[0]['clients']} clients", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cpu_info() -> dict:
    """The CPU model and the SIMD extensions XNNPACK picks its int8 and float kernels by (Linux only)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    model = re.search(r"^model name\s*:\s*(.*)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.*)$", text, re.M)
    wanted = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    return dict(model=model.group(1) if model else None,
                simd=[f for f in wanted if flags and f in flags.group(1).split()])


def git_state() -> dict:
    def run(*args):
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    modified = run("status", "--porcelain", "lrfr_tf/export") or ""
    return dict(commit=run("rev-parse", "HEAD"), modified_export_files=modified.splitlines())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="Smoke run: 30 runs, 8 calibration faces, 2 s of serving.")
    p.add_argument("--out", default=str(REPO / "results/benchmarks/edge_latency.json"),
                   help="JSON results; the plot goes beside it with .png.")
    p.add_argument("--reference", default=REFERENCE, help="The pretrained MobileFaceNet .tflite.")
    p.add_argument("--work_dir", default=None, help="Exports (kept, and reused when complete); default: a temporary "
                   "folder, removed at the end.")
    p.add_argument("--runs", type=int, default=None,
                   help="Timed invokes per model, kernels and threads (default 200, quick 30).")
    p.add_argument("--warmup", type=int, default=None, help="Untimed invokes first (default 20, quick 3).")
    p.add_argument("--block", type=int, default=20, help="Invokes per configuration per round-robin turn.")
    p.add_argument("--threads", default="1,2", help="Comma-separated LiteRT num_threads.")
    p.add_argument("--calibration_faces", type=int, default=None, help="int8 calibration faces (default 240, quick 8).")
    p.add_argument("--serve_batches", default="1,32", help="Request batches for the serving test ('' to skip it).")
    p.add_argument("--clients", type=int, default=4, help="Concurrent serving clients.")
    p.add_argument("--serve_seconds", type=float, default=None, help="Seconds per request batch (default 10, quick 2).")
    p.add_argument("--plot_only", action="store_true", help="Re-print the table and re-draw the PNG from --out.")
    p.add_argument("--gate_data", default=None, help="LFW-format folder: gate the pretrained model's export on it "
                   "(e.g. ../shared/data/lfw); default: no gate.")
    p.add_argument("--calibration_data", default=None, help="Folder of aligned faces for int8 calibration (default: "
                   "the packaged sample).")
    args = p.parse_args(argv)
    png = os.path.splitext(args.out)[0] + ".png"
    if args.plot_only:
        doc = json.loads(Path(args.out).read_text())
        print_table(doc)
        plot(doc, png)
        return 0
    runs = args.runs or (30 if args.quick else 200)
    warmup = args.warmup if args.warmup is not None else (3 if args.quick else 20)
    calibration = args.calibration_faces or (8 if args.quick else 240)
    seconds = args.serve_seconds or (2.0 if args.quick else 10.0)
    threads = [int(t) for t in args.threads.split(",")]
    batches = [int(b) for b in args.serve_batches.split(",") if b.strip()]
    if not os.path.isfile(args.reference):
        p.error(f"--reference: {args.reference} is not a file")
    for flag in ("gate_data", "calibration_data"):
        if getattr(args, flag) and not os.path.isdir(getattr(args, flag)):
            p.error(f"--{flag}: {getattr(args, flag)} is not a directory")

    from importlib.metadata import version

    import tensorflow as tf

    started = time.time()
    argv = [re.sub(r"^(--work_dir=).+", r"\1<work_dir>", a) for a in (sys.argv[1:] if argv is None else argv)]
    meta = dict(started_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), argv=argv,
                quick=args.quick, loadavg_start=os.getloadavg(), cpu_count=os.cpu_count(), platform=platform.platform(),
                processor=platform.processor(), python=platform.python_version(), numpy=np.__version__,
                tensorflow=tf.__version__, ai_edge_litert=version("ai-edge-litert"), threads=threads, runs=runs,
                calibration_faces=calibration, nice=os.nice(0), git=git_state(),
                cpu=cpu_info(),
                notes=("latency = one Interpreter.invoke() (input set once), per face = per invoke / batch; batch 1 "
                       "for the exports, 2 for the reference (fixed input shape); xnnpack = LiteRT's default delegate "
                       "(OpResolverType.AUTO), builtin = BUILTIN_WITHOUT_DEFAULT_DELEGATES; ratio_vs_reference uses "
                       "the reference's xnnpack median at the same thread count; coverage counts the model's ops that "
                       "a DELEGATE node replaced"))
    work = args.work_dir or tempfile.mkdtemp(prefix="edge_latency_")
    os.makedirs(work, exist_ok=True)
    try:
        gate_data = None
        if args.gate_data:
            from lrfr_tf.export.parity import GateData

            gate_data = GateData(args.gate_data)
        exports = export_all(args.reference, work, calibration, gate_data=gate_data,
                             calibration_dir=args.calibration_data)
        meta["formats"] = exports["formats"]
        meta["gate"] = {family: {k: v for k, v in (e["gate"] or {}).items() if k != "formats"} or None
                        for family, e in exports["families"].items()}
        saved_model_gate = ((exports["families"]["prelu"].get("gate") or {}).get("formats") or {}).get("saved_model")
        meta["exports"] = {family: {k: e[k] for k in ("reused", "created", "git", "timings")}
                           for family, e in exports["families"].items()}
        models = list_models(args.reference, exports, work)
        from lrfr_tf.eval.embedders import prepare_images
        from lrfr_tf.export import exporter
        from lrfr_tf.preprocessing import Preprocessing

        faces_u8 = exporter.load_calibration_faces(exporter.default_calibration_dir(), CHECK_FACES, (112, 112))
        faces = prepare_images(faces_u8, Preprocessing(size=(112, 112)))
        timing = measure(models, faces, threads, runs, warmup, args.block)
        meta.update(timing)
        doc = dict(meta=meta, models=models, saved_model_gate=saved_model_gate)
        if batches:
            doc["serving"] = measure_serving(serving_base(exports["families"]["prelu"]["dir"], work),
                                             faces_u8.astype(np.uint8), batches, args.clients, seconds)
        doc["summary"] = summary(models, threads)
        meta.update(loadavg_end=os.getloadavg(), wall_s=time.time() - started)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print_table(doc)
    plot(doc, png)
    print(f"wrote {args.out} and {png} in {time.time() - started:.0f} s; load average {meta['loadavg_start'][0]:.2f} "
          f"-> {meta['loadavg_end'][0]:.2f}")
    return 0


def summary(models: list[dict], threads: list[int]) -> dict:
    """The fastest export of each family per thread count (XNNPACK), and what PReLU costs against ReLU per
    format, kernels and threads (the two families differ only in the activation)."""
    fastest, prelu_cost = {}, {}
    for family in ("prelu", "relu"):
        rows = [m for m in models if m["family"] == family]
        for n in map(str, threads):
            best = min(rows, key=lambda m: m["latency"]["xnnpack"][n]["ms_per_face_median"])
            fastest.setdefault(family, {})[n] = dict(
                format=best["format"], ms_per_face_median=best["latency"]["xnnpack"][n]["ms_per_face_median"])
    relu = {m["format"]: m for m in models if m["family"] == "relu"}
    for m in models:
        if m["family"] != "prelu" or m["format"] not in relu:
            continue
        for kernels, per_thread in m["latency"].items():
            for n, row in per_thread.items():
                other = relu[m["format"]]["latency"][kernels][n]["ms_per_face_median"]
                prelu_cost.setdefault(m["format"], {}).setdefault(kernels, {})[n] = dict(
                    extra_ms_per_face=row["ms_per_face_median"] - other, ratio=row["ms_per_face_median"] / other)
    return dict(fastest_xnnpack=fastest, prelu_vs_relu=prelu_cost)


if __name__ == "__main__":
    sys.exit(main())
