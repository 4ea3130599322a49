"""Throughput of the degradation pipeline: tf.data (AUTOTUNE) vs a naive per-image OpenCV loop.

Both do the same work per image, the ``camera`` preset of ``lrfr_tf.data.degrade``:
read + decode the JPEG, Gaussian lens blur (sigma ~ U[0.5, 1.5]), down-sample to
r x r with r ~ U{8..32} (antialiased), Poisson shot noise (peak ~ U[100, 1000]
photons), Gaussian read noise (sigma ~ U[1, 5]), JPEG re-compression (quality
~ U{30..90}), bicubic up-sampling back to 112 x 112, then batching.

  * tf.data: ``pipeline.make_dataset(folder, map_fn=parse("camera").map_fn(out_key="image"))``,
    parallel map with AUTOTUNE on every core TF sees;
  * tf.data, decoded: the same with the images decoded once into memory (``decoded_cache_mb``, what the
    training engine does for a dataset that fits, ``data.decoded_cache_mb``): no read or JPEG decode per image;
  * naive: a Python loop, one image at a time with OpenCV/NumPy (cv2 INTER_AREA
    for the antialiased down-sampling, INTER_CUBIC up), ``np.stack`` per batch.

Chunks of ``--chunk_batches`` batches (the same images for both; tf.data from a
fresh iterator, start-up included) are timed alternately, so that the load of
other processes on a shared machine hits both alike. The primary figure is the
process CPU time per image (all of TF's threads included: on a loaded machine wall
rates measure the other processes too); beside it the median wall images/s, the
ratio, in how many paired chunks tf.data was faster, and the rate each would reach
on the machine's idle cores (tf.data: cores / CPU s per image, it keeps them all
busy; the loop: 1 / CPU s per image, one core).

Is training ever input-bound? ``--train_setup=distill`` (default) builds the
``distill`` recipe's trainer with ``benchmarks/train_throughput.py``'s functions
(the engine's compiled step, ``Trainer._step_fn``, student + frozen pretrained
MobileFaceNet teacher) and times, alternating, ``--train_rounds`` windows of
``--train_seconds`` each: the step alone (on one batch held in memory), the
recipe's own input pipeline alone (HR face + camera-degraded view), and both at
once in this process (the step in a thread, the pipeline drained as fast as it
goes): the pipeline's images/s on the cores the step leaves it, beside the step's.

  python benchmarks/degrade_throughput.py --data_dir=../shared/data/celeba/aligned112
  (writes results/benchmarks/degrade_throughput.json and .png)
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np
import tqdm
from absl import app, flags

flags.DEFINE_string("data_dir", "../shared/data/celeba/aligned112", "Identity-per-folder face images (112x112 JPEG).")
flags.DEFINE_integer("num_images", 0, "Take each chunk's images from the first N (0: all), repeating them if N is smaller than a chunk.")
flags.DEFINE_integer("batch_size", 64, "Batch size of both pipelines.")
flags.DEFINE_integer("chunks", 8, "Timed chunks per pipeline, alternating tf.data and naive (medians reported).")
flags.DEFINE_integer("chunk_batches", 32, "Batches per timed chunk.")
flags.DEFINE_string("json", str(REPO / "results/benchmarks/degrade_throughput.json"),
                    "Write the figures to this JSON file and a plot beside it (.png); empty: neither.")
flags.DEFINE_enum("train_setup", "distill", ["distill", "mobilefacenet", "none"],
                  "Training step to compare the input pipeline with (train_throughput.py's setups); none: skip.")
flags.DEFINE_string("mobilefacenet", "../shared/data/models/mobilefacenet/MobileFaceNet.tflite",
                    "The pretrained MobileFaceNet .tflite (distill's teacher and student init).")
flags.DEFINE_integer("train_rounds", 3, "Alternating rounds of step alone / pipeline alone / both at once.")
flags.DEFINE_float("train_seconds", 20.0, "Seconds per timed window of the training comparison.")
FLAGS = flags.FLAGS

CAMERA = dict(blur=(0.5, 1.5), size=(8, 32), peak=(100.0, 1000.0), read_sigma=(1.0, 5.0), quality=(30, 90), out=112)


def naive_degrade(path: str, rng: np.random.Generator) -> np.ndarray:
    """The camera model on one image with OpenCV/NumPy -> float32 [112, 112, 3] RGB in [0, 255]."""
    c = CAMERA
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(*c["blur"]), borderType=cv2.BORDER_REPLICATE)
    r = int(rng.integers(c["size"][0], c["size"][1] + 1))
    small = cv2.resize(image, (r, r), interpolation=cv2.INTER_AREA)
    peak = rng.uniform(*c["peak"])
    small = rng.poisson(np.clip(small, 0, 255) * (peak / 255.0)).astype(np.float32) * (255.0 / peak)
    small = np.clip(small + rng.normal(0.0, rng.uniform(*c["read_sigma"]), small.shape), 0, 255)
    quality = int(rng.integers(c["quality"][0], c["quality"][1] + 1))
    ok, buf = cv2.imencode(".jpg", np.round(small).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    small = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32)
    up = cv2.resize(small, (c["out"], c["out"]), interpolation=cv2.INTER_CUBIC)
    return np.clip(up, 0, 255)


def naive_pass(paths, batch_size: int, seed: int) -> int:
    """The naive loop over ``paths`` in batches; returns the number of images."""
    rng = np.random.default_rng(seed)
    count = 0
    for start in range(0, len(paths) - batch_size + 1, batch_size):
        count += len(np.stack([naive_degrade(p, rng) for p in paths[start:start + batch_size]]))
    return count


def tf_pass(ds, num_batches: int) -> int:
    """Pull ``num_batches`` from a fresh iterator (deleted afterwards, so no work runs in the
    background while the naive loop is timed); returns the number of images."""
    count = 0
    for batch in ds.take(num_batches):
        count += int(batch["image"].shape[0])
    return count


def machine_busy_seconds() -> float:
    """CPU seconds spent by all processes (Linux /proc/stat; 0 elsewhere)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measure(fn):
    """(images/s, process CPU microseconds per image) of one call of ``fn``. CPU time counts all
    threads and is less sensitive than wall time to other processes on a shared machine."""
    start, start_cpu = time.perf_counter(), time.process_time()
    n = fn()
    return n / (time.perf_counter() - start), (time.process_time() - start_cpu) / n * 1e6


def count_for(seconds: float, fn) -> tuple:
    """Call ``fn`` (returns images done) until ``seconds`` have passed: (images, wall seconds)."""
    start, images = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        images += fn()
    return images, time.perf_counter() - start


def train_comparison(setup: str, batch_size: int, rounds: int, seconds: float, data_dir: str, mobilefacenet: str):
    """The training step of ``setup`` against its own input pipeline: alone and at once (see the module
    docstring). Returns the medians and every window's figures."""
    import tensorflow as tf
    from train_throughput import setup_config  # benchmarks/train_throughput.py: the same trainer

    from lrfr_tf.train.engine import Trainer

    work = tempfile.mkdtemp(prefix="degrade_throughput_")
    try:
        config = setup_config(setup, batch_size, data_dir, mobilefacenet, "float32")
        trainer = Trainer(config, os.path.join(work, setup))
        trainer.method.initialize(trainer.models)
        stage = trainer.stages[0]
        step_fn = trainer._step_fn(stage)
        memory_batch = next(iter(trainer.strategy.experimental_distribute_dataset(trainer.dataset(stage, 0))))
        pipeline = iter(trainer.dataset(stage, 0))  # the recipe's input pipeline, endless

        def step():
            float(list(step_fn(memory_batch).values())[0])
            return batch_size

        def pull():
            return int(next(pipeline)["image"].shape[0])

        for _ in range(2):  # warm-up: tracing, file cache
            step(), pull()
        windows = {"step_alone": [], "pipeline_alone": [], "step_concurrent": [], "pipeline_concurrent": []}
        cpu_us = {"step_alone": [], "pipeline_alone": []}
        for r in tqdm.trange(rounds, desc=f"{setup} step vs its pipeline", disable=None):
            for name, fn in (("step_alone", step), ("pipeline_alone", pull)):
                start_cpu = time.process_time()
                images, wall = count_for(seconds, fn)
                windows[name].append(images / wall)
                cpu_us[name].append((time.process_time() - start_cpu) / images * 1e6)
            stepped = {}
            thread = threading.Thread(target=lambda: stepped.update(zip(("images", "wall"), count_for(seconds, step))))
            thread.start()
            images, wall = count_for(seconds, pull)
            thread.join()
            windows["pipeline_concurrent"].append(images / wall)
            windows["step_concurrent"].append(stepped["images"] / stepped["wall"])
            tqdm.tqdm.write(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in windows.items())
                            + " faces/s")
        out = {"setup": setup, "spec": trainer.config.distill.views if setup == "distill" else trainer.config.data.degrade,
               "batch_size": batch_size, "rounds": rounds, "seconds_per_window": seconds}
        for name, rates in windows.items():
            out[name] = {"images_per_s": statistics.median(rates), "window_images_per_s": rates}
            if name in cpu_us:
                out[name]["cpu_us_per_image"] = statistics.median(cpu_us[name])
        out["pipeline_over_step_concurrent"] = (out["pipeline_concurrent"]["images_per_s"]
                                                / out["step_concurrent"]["images_per_s"])
        # CPU cores the pipeline needs to feed the step at its full rate
        out["pipeline_cores_to_feed_step"] = (out["step_alone"]["images_per_s"]
                                              * out["pipeline_alone"]["cpu_us_per_image"] * 1e-6)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def plot(result: dict, path: str) -> None:
    """CPU us/image and wall images/s of both pipelines; the training comparison beside them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = result.get("train")
    fig, axes = plt.subplots(1, 3 if train else 2, figsize=(13 if train else 9, 4))
    names, labels = ("tf", "tf_cached", "naive"), ("tf.data", "tf.data,\ndecoded in memory", "naive OpenCV loop")
    names, labels = zip(*[(n, lab) for n, lab in zip(names, labels) if n in result])
    axes[0].bar(labels, [result[n]["cpu_us_per_image"] for n in names], color=["C0", "C4", "C1"][:len(names)])
    axes[0].set_ylabel("CPU us / image (all threads)")
    axes[0].set_title("cost per image (lower is better)")
    width = 0.38
    x = np.arange(len(names))
    axes[1].bar(x - width / 2, [result[n]["images_per_s"] for n in names], width, label="measured (shared machine)")
    axes[1].bar(x + width / 2, [result[n]["idle_cores_images_per_s"] for n in names], width,
                label=f"on {result['cpus']} idle cores (from CPU time)")
    axes[1].set_xticks(x, labels)
    axes[1].set_ylabel("images / s")
    axes[1].set_title(f"camera preset, batch {result['batch_size']}")
    axes[1].legend(fontsize=8)
    if train:
        keys = ("step_alone", "step_concurrent", "pipeline_alone", "pipeline_concurrent")
        axes[2].bar(["step\nalone", "step\nconcurrent", "pipeline\nalone", "pipeline\nconcurrent"],
                    [train[k]["images_per_s"] for k in keys], color=["C2", "C2", "C0", "C0"])
        axes[2].set_yscale("log")
        axes[2].set_ylabel("faces / s")
        axes[2].set_title(f"{train['setup']} training step vs its input pipeline")
    load = result["load_average_before_after"]
    fig.suptitle(f"degradation throughput on {result['cpus']} cores, load average {load[0]:.1f} -> {load[1]:.1f}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv):
    del argv
    from lrfr_tf.data import degrade, folders, pipeline

    import tensorflow as tf

    folder = folders.IdentityFolder(FLAGS.data_dir)
    n = FLAGS.num_images or len(folder)
    k, b = FLAGS.chunk_batches, FLAGS.batch_size
    chunk = [i % n for i in range(k * b)]  # the images of one timed chunk, for both pipelines
    source = types.SimpleNamespace(paths=[folder.paths[i] for i in chunk], labels=folder.labels[chunk])
    degradation = degrade.parse("camera")  # what naive_degrade implements
    ds = pipeline.make_dataset(source, b, seed=0, map_fn=degradation.map_fn(out_key="image"), repeat=False)
    # the training engine's default: the chunk's images decoded once into memory (config data.decoded_cache_mb)
    ds_cached = pipeline.make_dataset(source, b, seed=0, map_fn=degradation.map_fn(out_key="image"), repeat=False,
                                      decoded_cache_mb=4096)
    cpus = os.cpu_count()
    print(f"chunks of {k * b} images from {n} of {FLAGS.data_dir}, batch {b}, {cpus} CPUs seen, "
          f"TF {tf.__version__}, OpenCV {cv2.__version__}\ndegradation: {degradation.spec}", flush=True)

    measure(lambda: tf_pass(ds, 4))  # warm-up: tracing, file cache
    measure(lambda: tf_pass(ds_cached, 4))
    measure(lambda: naive_pass(source.paths[: 2 * b], b, 0))
    load_before = os.getloadavg()
    start, start_cpu, start_busy = time.perf_counter(), time.process_time(), machine_busy_seconds()
    runs = {"tf": [], "tf_cached": [], "naive": []}
    for c in tqdm.trange(FLAGS.chunks, desc="timing", disable=None):  # alternate: load changes hit both alike
        runs["tf"].append(measure(lambda: tf_pass(ds, k)))
        runs["tf_cached"].append(measure(lambda: tf_pass(ds_cached, k)))
        runs["naive"].append(measure(lambda: naive_pass(source.paths, b, 1)))
        tqdm.tqdm.write(f"chunk {c + 1}/{FLAGS.chunks}: " + ", ".join(
            f"{name} {v[-1][1]:.0f} CPU us/image, {v[-1][0]:.0f} images/s" for name, v in runs.items()))
    wall = time.perf_counter() - start
    others = max(0.0, machine_busy_seconds() - start_busy - (time.process_time() - start_cpu)) / wall
    figures = {}
    for name, values in runs.items():
        rates, cpu = [r for r, _ in values], [c for _, c in values]
        busy_cores = 1 if name == "naive" else cpus  # tf.data keeps every core busy, the loop one
        figures[name] = {"cpu_us_per_image": statistics.median(cpu), "images_per_s": statistics.median(rates),
                         "idle_cores_images_per_s": busy_cores * 1e6 / statistics.median(cpu),
                         "chunk_images_per_s": rates, "chunk_cpu_us_per_image": cpu}
    ratio = figures["tf"]["images_per_s"] / figures["naive"]["images_per_s"]
    cpu_ratio = figures["naive"]["cpu_us_per_image"] / figures["tf"]["cpu_us_per_image"]
    idle_ratio = figures["tf"]["idle_cores_images_per_s"] / figures["naive"]["idle_cores_images_per_s"]
    wins = sum(t > v for (t, _), (v, _) in zip(runs["tf"], runs["naive"]))
    cheaper = sum(t < v for (_, t), (_, v) in zip(runs["tf"], runs["naive"]))
    cached = figures["tf_cached"]
    cached_vs_naive = {"cpu_ratio_naive_over_tf_cached": figures["naive"]["cpu_us_per_image"] / cached["cpu_us_per_image"],
                       "wall_ratio": cached["images_per_s"] / figures["naive"]["images_per_s"],
                       "idle_cores_ratio": cached["idle_cores_images_per_s"] / figures["naive"]["idle_cores_images_per_s"]}
    for name, label in (("tf", "tf.data pipeline "), ("tf_cached", "tf.data, decoded "), ("naive", "naive OpenCV loop")):
        f = figures[name]
        print(f"{label}: {f['cpu_us_per_image']:5.0f} CPU us/image, {f['images_per_s']:6.0f} images/s median over "
              f"{FLAGS.chunks} chunks (range {min(f['chunk_images_per_s']):.0f}-{max(f['chunk_images_per_s']):.0f}), "
              f"{f['idle_cores_images_per_s']:.0f} images/s on {1 if name == 'naive' else cpus} idle core(s)")
    print(f"decoded images in memory: CPU per image naive / tf.data {cached_vs_naive['cpu_ratio_naive_over_tf_cached']:.2f}x, "
          f"wall {cached_vs_naive['wall_ratio']:.2f}x measured, {cached_vs_naive['idle_cores_ratio']:.2f}x on {cpus} idle cores")
    print(f"CPU per image naive / tf.data: {cpu_ratio:.2f}x (tf.data cheaper in {cheaper}/{FLAGS.chunks} paired chunks); "
          f"wall rate tf.data / naive: {ratio:.2f}x measured, {idle_ratio:.2f}x on {cpus} idle cores; "
          f"tf.data faster in {wins}/{FLAGS.chunks} paired chunks ({k * b} images each)")
    print(f"other processes used {others:.2f} of {cpus} CPUs meanwhile "
          f"(load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f})", flush=True)
    result = {"images": n, "batch_size": FLAGS.batch_size, "chunks": FLAGS.chunks,
              "chunk_batches": FLAGS.chunk_batches, "cpus": cpus, "spec": degradation.spec,
              "tf": figures["tf"], "naive": figures["naive"], "ratio": ratio, "cpu_ratio_naive_over_tf": cpu_ratio,
              "tf_cached": cached, "tf_cached_vs_naive": cached_vs_naive,
              "idle_cores_ratio": idle_ratio, "tf_faster_chunks": wins, "tf_cheaper_chunks": cheaper,
              "load_average_before_after": [load_before[0], os.getloadavg()[0]],
              "other_processes_cpus": others,
              "tensorflow": tf.__version__, "opencv": cv2.__version__}
    if FLAGS.train_setup != "none":
        train = train_comparison(FLAGS.train_setup, b, FLAGS.train_rounds, FLAGS.train_seconds, FLAGS.data_dir,
                                 FLAGS.mobilefacenet)
        result["train"] = train
        print(f"{train['setup']} step: {train['step_alone']['images_per_s']:.1f} faces/s alone, "
              f"{train['step_concurrent']['images_per_s']:.1f} with its pipeline running beside it")
        print(f"its pipeline: {train['pipeline_alone']['images_per_s']:.0f} faces/s alone "
              f"({train['pipeline_alone']['cpu_us_per_image']:.0f} CPU us/face), "
              f"{train['pipeline_concurrent']['images_per_s']:.0f} on the cores the step leaves: "
              f"{train['pipeline_over_step_concurrent']:.1f}x the step's rate; feeding the step at its full rate "
              f"takes {train['pipeline_cores_to_feed_step']:.2f} of {cpus} cores")
    result["load_average_before_after"][1] = os.getloadavg()[0]
    if FLAGS.json:
        Path(FLAGS.json).parent.mkdir(parents=True, exist_ok=True)
        with open(FLAGS.json, "w") as f:
            json.dump(result, f, indent=2)
        png = os.path.splitext(FLAGS.json)[0] + ".png"
        plot(result, png)
        print(f"wrote {FLAGS.json} and {png}")


if __name__ == "__main__":
    app.run(main)
