"""Throughput of the degradation pipeline: tf.data (AUTOTUNE) vs a naive per-image OpenCV loop.

Both do the same work per image, the ``camera`` preset of ``lrfr_tf.data.degrade``:
read + decode the JPEG, Gaussian lens blur (sigma ~ U[0.5, 1.5]), down-sample to
r x r with r ~ U{8..32} (antialiased), Poisson shot noise (peak ~ U[100, 1000]
photons), Gaussian read noise (sigma ~ U[1, 5]), JPEG re-compression (quality
~ U{30..90}), bicubic up-sampling back to 112 x 112, then batching.

  * tf.data: ``pipeline.make_dataset(folder, map_fn=parse("camera").map_fn(out_key="image"))``,
    parallel map with AUTOTUNE on every core TF sees;
  * naive: a Python loop, one image at a time with OpenCV/NumPy (cv2 INTER_AREA
    for the antialiased down-sampling, INTER_CUBIC up), ``np.stack`` per batch.

Chunks of ``--chunk_batches`` batches (the same images for both; tf.data from a
fresh iterator, start-up included) are timed alternately, so that the load of
other processes on a shared machine hits both alike. Prints the median images/s of
each, the ratio, in how many paired chunks tf.data was faster, and the process
CPU time per image.

  python benchmarks/degrade_throughput.py --data_dir=../shared/data/celeba/aligned112 --json=degrade.json
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
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
flags.DEFINE_string("json", None, "Write the figures to this JSON file.")
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
    print(f"chunks of {k * b} images from {n} of {FLAGS.data_dir}, batch {b}, {os.cpu_count()} CPUs seen, "
          f"TF {tf.__version__}, OpenCV {cv2.__version__}\ndegradation: {degradation.spec}", flush=True)

    measure(lambda: tf_pass(ds, 4))  # warm-up: tracing, file cache
    measure(lambda: naive_pass(source.paths[: 2 * b], b, 0))
    load_before = os.getloadavg()
    start, start_cpu, start_busy = time.perf_counter(), time.process_time(), machine_busy_seconds()
    runs = {"tf": [], "naive": []}
    for _ in tqdm.trange(FLAGS.chunks, desc="timing", disable=None):  # alternate: load changes hit both alike
        runs["tf"].append(measure(lambda: tf_pass(ds, k)))
        runs["naive"].append(measure(lambda: naive_pass(source.paths, b, 1)))
    wall = time.perf_counter() - start
    others = max(0.0, machine_busy_seconds() - start_busy - (time.process_time() - start_cpu)) / wall
    figures = {}
    for name, values in runs.items():
        rates, cpu = [r for r, _ in values], [c for _, c in values]
        figures[name] = {"images_per_s": statistics.median(rates), "cpu_us_per_image": statistics.median(cpu),
                         "chunk_images_per_s": rates}
    ratio = figures["tf"]["images_per_s"] / figures["naive"]["images_per_s"]
    wins = sum(t > v for (t, _), (v, _) in zip(runs["tf"], runs["naive"]))
    for name, label in (("tf", "tf.data pipeline "), ("naive", "naive OpenCV loop")):
        f = figures[name]
        print(f"{label}: {f['images_per_s']:7.0f} images/s median over {FLAGS.chunks} chunks "
              f"(range {min(f['chunk_images_per_s']):.0f}-{max(f['chunk_images_per_s']):.0f}), "
              f"{f['cpu_us_per_image']:.0f} CPU us/image")
    print(f"ratio tf.data / naive: {ratio:.2f}x; tf.data faster in {wins}/{FLAGS.chunks} paired chunks "
          f"({k * b} images each)")
    print(f"other processes used {others:.2f} of {os.cpu_count()} CPUs meanwhile "
          f"(load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f})")
    if FLAGS.json:
        result = {"images": n, "batch_size": FLAGS.batch_size, "chunks": FLAGS.chunks,
                  "chunk_batches": FLAGS.chunk_batches, "cpus": os.cpu_count(), "spec": degradation.spec,
                  "tf": figures["tf"], "naive": figures["naive"], "ratio": ratio, "tf_faster_chunks": wins,
                  "load_average_before_after": [load_before[0], os.getloadavg()[0]],
                  "other_processes_cpus": others,
                  "tensorflow": tf.__version__, "opencv": cv2.__version__}
        with open(FLAGS.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {FLAGS.json}")


if __name__ == "__main__":
    app.run(main)
