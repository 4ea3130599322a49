"""Training throughput: images/s of lrfr_tf's training step against plain ``model.fit``, GFLOP/s against a 1x1 conv.

Setups (batch ``--batch``, 64 by default; every model built by the training engine from a config):

  mobilefacenet  classifier: MobileFaceNet (registry, with BatchNorm) + ArcFace head, one view;
  iresnet50      classifier: IResNet-50 + ArcFace head, one view;
  distill        the ``distill`` recipe: student and frozen teacher = the pretrained MobileFaceNet (imported from
                 ``--mobilefacenet``), the clean face and one camera-degraded view per face;
  siamese        ST-M1 (``st_m1``) with the pretrained MobileFaceNet as backbone: the HR face and one LR view,
                 ArcFace on both branches + cosine distance.

Per setup, in this process, alternating ``--rounds`` times so that other load hits every arm alike:

  step     the engine's compiled step (``Trainer._step_fn``) on one batch held in memory: the step alone;
  loop     the same step fed by the engine's tf.data pipeline (read, decode, degrade, batch): what a run does;
  fit      the simplest thing a user would write instead: the same Keras model(s) compiled and trained with
           ``model.fit`` on an in-memory tensor of the same batch (classifier: [images, labels] -> margin-head
           logits, sparse cross-entropy; distill: the student on the two views of each face against the teacher's
           HR embeddings computed once beforehand, cosine loss; siamese: both branches' logits, cross-entropy).

Images/s count faces (a face's two views are one image). FLOPs: forward float ops of each model at batch 1 from
TF's graph profiler (``tf.compat.v1.profiler``), a training step ~ 3x the trained models' forward FLOPs + 1x the
frozen teacher's, per view; achieved GFLOP/s against the rate of a 1x1 convolution (fwd + bwd, MobileFaceNet
shape) measured in the same run: the practical ceiling of these cores. ``--profile`` records ``--profile_steps``
of each setup's step with the TensorFlow profiler and saves the top 10 op types by self time (xprof's
framework_op_stats) beside the JSON.

  python benchmarks/train_throughput.py                                   # every setup, ~20 min on 2 cores
  python benchmarks/train_throughput.py --setups=distill --precision=mixed_bfloat16 --out=/tmp/t.json
  python benchmarks/train_throughput.py --setups=distill --config=distill.relu_anneal_steps=300 --out=/tmp/t.json
  python benchmarks/train_throughput.py --plot_only
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

MOBILEFACENET = "../shared/data/models/mobilefacenet/MobileFaceNet.tflite"
CELEBA = "../shared/data/celeba/aligned112"
SETUPS = ("mobilefacenet", "iresnet50", "distill", "siamese")


# ----------------------------------------------------------------------------------------------- configs


def setup_config(name: str, batch: int, data: str, mobilefacenet: str, precision: str):
    """The resolved training config of setup ``name``."""
    from lrfr_tf.train import defaults as D
    from lrfr_tf.train.recipes import load_config

    if name in ("mobilefacenet", "iresnet50"):
        config = D.base_config(f"throughput_{name}", "classifier")
        config.model.backbone = name
        config.model.embedding_dim = 128 if name == "mobilefacenet" else 512
        config.model.head = "arcface"
        config.model.head_kwargs = {"scale": 64.0, "margin": 0.5}
        config.stages.train = D.stage(1000, main=D.update(["backbone", "head"], {"ce": 1.0}, D.optimizer("sgd", lr=0.01)))
    elif name == "distill":
        config = load_config("distill")
        config.model.init = config.distill.teacher.init = mobilefacenet
    elif name == "siamese":
        config = load_config("st_m1")
        config.model.backbone = "mobilefacenet"
        config.model.embedding_dim = 192
        config.model.init = mobilefacenet
        config.model.init_batch_norm = False
        config.model.head_kwargs = {"scale": 64.0, "margin": 0.5}
    else:
        raise ValueError(f"unknown setup {name!r}; expected some of {', '.join(SETUPS)}")
    config.data.train = data
    config.data.batch_size = batch
    config.precision = precision
    config.eval.enabled = False
    config.log.progress = False
    return config


# ----------------------------------------------------------------------------------------------- FLOPs


def forward_flops(model, size=(112, 112)) -> int:
    """Float operations of one forward pass at batch 1 (TF's graph profiler on the frozen inference graph)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn = tf.function(lambda x: model(x, training=False))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(tf.TensorSpec([1, *size, 3], tf.float32)))
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                                         options=options)
    return int(info.total_float_ops)


def step_flops(name: str, trainer) -> dict:
    """Forward FLOPs per model and the training step's FLOPs per face."""
    models = trainer.models
    if name == "distill":
        student, teacher = forward_flops(models["student"]), forward_flops(models["teacher"])
        views = 1 + len(trainer.method.views)
        return {"forward_flops": {"student": student, "teacher": teacher}, "views": views,
                "step_flops_per_face": 3 * student * views + teacher}
    backbone = forward_flops(models["backbone"])
    views = 1 + len(getattr(trainer.method, "views", []))
    return {"forward_flops": {"backbone": backbone}, "views": views, "step_flops_per_face": 3 * backbone * views}


def conv1x1_rate(seconds: float = 3.0) -> dict:
    """GFLOP/s of a 1x1 convolution, forward and backward (input and kernel gradients), at a MobileFaceNet
    shape: [64, 14, 14, 128] -> 256 channels."""
    import tensorflow as tf

    x = tf.random.normal([64, 14, 14, 128])
    kernel = tf.Variable(tf.random.normal([1, 1, 128, 256]) * 0.05)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.conv2d(x, kernel, 1, "SAME")
            loss = tf.reduce_sum(y * y) * 1e-6
        gx, gk = tape.gradient(loss, [x, kernel])
        return tf.reduce_sum(gx) + tf.reduce_sum(gk)

    flops = 3 * 2 * 64 * 14 * 14 * 128 * 256
    float(step(x))
    times = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(times) < 5:
        t = time.perf_counter()
        float(step(x))
        times.append(time.perf_counter() - t)
    return {"shape": "[64,14,14,128] x [1,1,128,256]", "flops_per_call": flops,
            "gflops_per_s_median": flops / statistics.median(times) / 1e9, "calls": len(times)}


# ----------------------------------------------------------------------------------------------- arms


def fit_model(name: str, trainer, batch):
    """(keras.Model compiled for ``fit``, x, y): the simplest user code training the same model(s)."""
    import keras
    import tensorflow as tf

    models = trainer.models
    if name == "distill":
        student, teacher = models["student"], models["teacher"]
        views = [batch["image"]] + [batch[f"lr{k}"] for k in range(len(trainer.method.views))]
        target = teacher(teacher.preprocessing.normalize(batch["image"]), training=False)
        x = tf.concat([student.preprocessing.normalize(v) for v in views], axis=0)
        y = tf.tile(target, [len(views), 1])
        student.compile(optimizer=keras.optimizers.Adam(1e-4), loss=keras.losses.CosineSimilarity())
        return student, x, y, len(views)
    backbone, head = models["backbone"], models["head"]
    views = [batch["image"]] + [batch[f"lr{k}"] for k in range(len(getattr(trainer.method, "views", [])))]
    images = keras.Input((*trainer.config.data.image_size, 3))
    labels = keras.Input((), dtype="int32")
    model = keras.Model([images, labels], head(backbone(images), labels))
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = tf.concat([backbone.preprocessing.normalize(v) for v in views], axis=0)
    y = tf.tile(tf.cast(batch["label"], tf.int32), [len(views)])
    return model, [x, y], y, len(views)


def time_calls(fn, calls: int) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - t


def measure_setup(name: str, args, work: str, log=print) -> dict:
    import tensorflow as tf

    from lrfr_tf.train.engine import Trainer

    from lrfr_tf.train.recipes import apply_overrides

    config = setup_config(name, args.batch, args.data, args.mobilefacenet, args.precision)
    config.xla = bool(args.xla)
    apply_overrides(config, list(args.config))
    trainer = Trainer(config, os.path.join(work, name))
    trainer.method.initialize(trainer.models)
    stage = trainer.stages[0]
    step_fn = trainer._step_fn(stage)
    iterator = iter(trainer.strategy.experimental_distribute_dataset(trainer.dataset(stage, 0)))
    batch = next(iterator)
    local = trainer.strategy.experimental_local_results(batch)[0]
    traces = []
    t = time.perf_counter()
    logs = step_fn(batch)
    first = time.perf_counter() - t
    for _ in range(args.warmup):
        float(list(step_fn(batch).values())[0])
        next(iterator)
    traces.append(step_fn.experimental_get_tracing_count())
    flops = step_flops(name, trainer)
    reps = max(1, args.steps)
    fit, x, y, views = fit_model(name, trainer, local)
    fit_batch = args.batch * views
    tile = lambda t: tf.tile(t, [reps] + [1] * (len(t.shape) - 1))  # noqa: E731  one fit call = reps steps
    x = [tile(t) for t in x] if isinstance(x, list) else tile(x)
    y = tile(y)
    fit.fit(x, y, batch_size=fit_batch, epochs=1, verbose=0, shuffle=False)  # trace

    def ours_step():
        float(list(step_fn(batch).values())[0])

    def ours_loop():
        float(list(step_fn(next(iterator)).values())[0])

    def keras_fit():  # reps steps in one call: fit's per-call set-up is spread as in a real epoch
        fit.fit(x, y, batch_size=fit_batch, epochs=1, verbose=0, shuffle=False)

    arms = {"step": ours_step, "loop": ours_loop, "fit": keras_fit}
    calls = {"step": reps, "loop": reps, "fit": 1}
    seconds = {k: [] for k in arms}
    cpu = {k: [] for k in arms}
    for r in range(args.rounds):
        for arm, fn in arms.items():
            c = time.process_time()
            seconds[arm].append(time_calls(fn, calls[arm]) / reps)
            cpu[arm].append((time.process_time() - c) / reps)
        log(f"{name} round {r + 1}/{args.rounds}: " + ", ".join(
            f"{k} {args.batch / seconds[k][-1]:.1f} img/s" for k in arms))
    traces.append(step_fn.experimental_get_tracing_count())
    out = {"config": {"method": config.method, "batch": args.batch, "precision": args.precision, "xla": config.xla,
                    "xla": bool(args.xla), "threads": args.threads or "default", "config": args.config,
                      "views": views, "first_step_s": first, "loss_terms": sorted(logs)},
           **flops, "traces_after_warmup_and_timing": traces}
    for arm in arms:
        med = statistics.median(seconds[arm])
        out[arm] = {"seconds_per_step": seconds[arm], "images_per_s": args.batch / med,
                    "cpu_s_per_image": statistics.median(cpu[arm]) / args.batch,
                    "gflops_per_s": flops["step_flops_per_face"] * args.batch / med / 1e9}
    out["step_vs_fit"] = out["step"]["images_per_s"] / out["fit"]["images_per_s"]
    out["loop_vs_fit"] = out["loop"]["images_per_s"] / out["fit"]["images_per_s"]
    if args.profile:
        out["profile"] = profile_step(step_fn, batch, args.profile_steps, os.path.join(work, f"profile_{name}"))
    return out


def profile_step(step_fn, batch, steps: int, logdir: str, top: int = 10) -> dict:
    """Top op types by self time over ``steps`` calls of ``step_fn`` (TF profiler + xprof framework_op_stats)."""
    import tensorflow as tf

    try:
        from xprof.convert import raw_to_tool_data
    except ImportError:
        return {"error": "xprof is not installed (pip install xprof): no op breakdown"}
    tf.profiler.experimental.start(logdir)
    for _ in range(steps):
        float(list(step_fn(batch).values())[0])
    tf.profiler.experimental.stop()
    paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    data, _ = raw_to_tool_data.xspace_to_tool_data(paths, "framework_op_stats", {})
    table = json.loads(data)[0]
    cols = [c["id"] for c in table["cols"]]
    by_type = {}
    for row in table["rows"]:
        r = dict(zip(cols, (c.get("v") for c in row["c"])))
        if r.get("host_or_device") not in ("Host", "Device") or r.get("type") == "IDLE":
            continue
        by_type[r["type"]] = by_type.get(r["type"], 0.0) + float(r["total_self_time"] or 0.0)
    total = sum(by_type.values()) or 1.0
    ranked = sorted(by_type.items(), key=lambda kv: -kv[1])[:top]
    return {"steps": steps, "total_self_time_ms": total / 1e3,
            "top_ops": [{"type": k, "self_time_ms": v / 1e3, "share": v / total} for k, v in ranked]}


# ----------------------------------------------------------------------------------------------- report


def print_table(doc: dict) -> None:
    ceiling = doc["conv1x1"]["gflops_per_s_median"]
    print(f"1x1 conv fwd+bwd: {ceiling:.1f} GFLOP/s (the ceiling below)")
    head = f"{'setup':<14}{'step img/s':>11}{'loop img/s':>11}{'fit img/s':>10}{'step/fit':>9}{'loop/fit':>9}" \
           f"{'GFLOP/img':>10}{'step GFLOP/s':>13}{'of ceiling':>11}"
    print(head)
    print("-" * len(head))
    for name, r in doc["setups"].items():
        print(f"{name:<14}{r['step']['images_per_s']:>11.1f}{r['loop']['images_per_s']:>11.1f}"
              f"{r['fit']['images_per_s']:>10.1f}{r['step_vs_fit']:>9.2f}{r['loop_vs_fit']:>9.2f}"
              f"{r['step_flops_per_face'] / 1e9:>10.2f}{r['step']['gflops_per_s']:>13.1f}"
              f"{r['step']['gflops_per_s'] / ceiling:>11.2f}")
        for op in (r.get("profile") or {}).get("top_ops", [])[:5]:
            print(f"{'':<16}{op['type']:<28}{op['share']:>6.1%}")


def plot(doc: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(doc["setups"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.27
    for i, arm in enumerate(("step", "loop", "fit")):
        ax1.bar(np.arange(len(names)) + i * width, [doc["setups"][n][arm]["images_per_s"] for n in names], width,
                label=arm)
    ax1.set_xticks(np.arange(len(names)) + width, names)
    ax1.set_ylabel("faces / s (batch %d)" % doc["meta"]["batch"])
    ax1.legend()
    ceiling = doc["conv1x1"]["gflops_per_s_median"]
    ax2.bar(names, [doc["setups"][n]["step"]["gflops_per_s"] for n in names])
    ax2.axhline(ceiling, color="k", ls="--", label=f"1x1 conv fwd+bwd {ceiling:.0f}")
    ax2.set_ylabel("GFLOP/s achieved by the step")
    ax2.legend()
    fig.suptitle(f"training throughput ({doc['meta']['precision']}, {doc['meta']['cpu_count']} cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--setups", default=",".join(SETUPS), help=f"Comma-separated, of {', '.join(SETUPS)}.")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="Steps per timed call of each arm.")
    p.add_argument("--rounds", type=int, default=3, help="Alternating rounds over the arms.")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16", "mixed_float16"])
    p.add_argument("--xla", action="store_true", help="jit_compile the engine's step (config.xla).")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="A config override of every setup, as the training command's --config.KEY=VALUE (repeat).")
    p.add_argument("--threads", default="", help="intra,inter op threads (e.g. 2,1); default: TF's.")
    p.add_argument("--data", default=CELEBA, help="Identity folder of aligned faces.")
    p.add_argument("--mobilefacenet", default=MOBILEFACENET, help="The pretrained MobileFaceNet .tflite.")
    p.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--profile_steps", type=int, default=3)
    p.add_argument("--out", default=str(REPO / "results/benchmarks/train_throughput.json"))
    p.add_argument("--plot_only", action="store_true")
    args = p.parse_args(argv)
    png = os.path.splitext(args.out)[0] + ".png"
    if args.plot_only:
        doc = json.loads(Path(args.out).read_text())
        print_table(doc)
        plot(doc, png)
        return 0
    setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    bad = [s for s in setups if s not in SETUPS]
    if bad:
        p.error(f"--setups: unknown {bad}; expected some of {', '.join(SETUPS)}")
    if not os.path.isdir(args.data):
        p.error(f"--data: {args.data} is not a directory")
    if any(s in ("distill", "siamese") for s in setups) and not os.path.isfile(args.mobilefacenet):
        p.error(f"--mobilefacenet: {args.mobilefacenet} is not a file")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if not os.access(Path(args.out).parent, os.W_OK):
        p.error(f"--out: {Path(args.out).parent} is not writable")

    import tensorflow as tf

    if args.threads:
        intra, inter = (int(v) for v in args.threads.split(","))
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    started = time.time()
    doc = {"meta": {"started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                    "argv": sys.argv[1:] if argv is None else argv, "batch": args.batch, "precision": args.precision,
                    "xla": bool(args.xla), "threads": args.threads or "default", "config": args.config,
                    "steps_per_call": args.steps, "rounds": args.rounds, "cpu_count": os.cpu_count(),
                    "loadavg_start": os.getloadavg(), "tensorflow": tf.__version__, "platform": platform.platform(),
                    "env": {k: os.environ.get(k) for k in ("TF_ENABLE_ONEDNN_OPTS", "DNNL_MAX_CPU_ISA",
                                                            "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}},
           "conv1x1": conv1x1_rate(), "setups": {}}
    print(f"1x1 conv: {doc['conv1x1']['gflops_per_s_median']:.1f} GFLOP/s", flush=True)
    work = tempfile.mkdtemp(prefix="train_throughput_")
    try:
        for name in setups:
            doc["setups"][name] = measure_setup(name, args, work, log=lambda m: print(m, flush=True))
            Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")  # each setup lands on disk
    finally:
        shutil.rmtree(work, ignore_errors=True)
    doc["meta"].update(loadavg_end=os.getloadavg(), wall_s=time.time() - started)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print_table(doc)
    plot(doc, png)
    print(f"wrote {args.out} and {png} in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
