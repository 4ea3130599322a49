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

Prints the median images/s of each over ``--repeats`` full passes and the ratio.

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
from absl import app, flags

flags.DEFINE_string("data_dir", "../shared/data/celeba/aligned112", "Identity-per-folder face images (112x112 JPEG).")
flags.DEFINE_integer("num_images", 0, "Use the first N images (0: all).")
flags.DEFINE_integer("batch_size", 64, "Batch size of both pipelines.")
flags.DEFINE_integer("repeats", 3, "Timed passes over the images per pipeline (the median is reported).")
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
    rng = np.random.default_rng(seed)
    batch, count = [], 0
    for path in paths:
        batch.append(naive_degrade(path, rng))
        if len(batch) == batch_size:
            count += len(np.stack(batch))
            batch = []
    return count


def tf_pass(ds) -> int:
    count = 0
    for batch in ds:
        count += int(batch["image"].shape[0])
    return count


def measure(fn):
    """(images/s, process CPU microseconds per image) of one run of ``fn`` (CPU time counts all threads
    and is less sensitive than wall time to other processes on a shared machine)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    n = fn()
    return n / (time.perf_counter() - start), (time.process_time() - start_cpu) / n * 1e6


def main(argv):
    del argv
    from lrfr_tf.data import degrade, folders, pipeline

    import tensorflow as tf

    folder = folders.IdentityFolder(FLAGS.data_dir)
    n = FLAGS.num_images or len(folder)
    source = types.SimpleNamespace(paths=folder.paths[:n], labels=folder.labels[:n])
    n -= n % FLAGS.batch_size  # both pipelines drop the last partial batch
    degradation = degrade.parse("camera")  # what naive_degrade implements
    ds = pipeline.make_dataset(source, FLAGS.batch_size, seed=0, map_fn=degradation.map_fn(out_key="image"),
                               shuffle=True, repeat=False)
    print(f"{n} images of {FLAGS.data_dir}, batch {FLAGS.batch_size}, {os.cpu_count()} CPUs seen, "
          f"TF {tf.__version__}, OpenCV {cv2.__version__}\ndegradation: {degradation.spec}", flush=True)

    naive_pass(source.paths[: 2 * FLAGS.batch_size], FLAGS.batch_size, 0)  # warm-up (file cache, imports)
    for _ in ds.take(2):  # warm-up (tracing)
        pass
    load_before = os.getloadavg()
    runs = {"tf": [], "naive": []}
    for _ in range(FLAGS.repeats):  # alternate, so that load changes hit both pipelines alike
        runs["tf"].append(measure(lambda: tf_pass(ds)))
        runs["naive"].append(measure(lambda: naive_pass(source.paths[:n], FLAGS.batch_size, 1)))
    tf_rates, naive_rates = [r for r, _ in runs["tf"]], [r for r, _ in runs["naive"]]
    tf_rate, naive_rate = statistics.median(tf_rates), statistics.median(naive_rates)
    tf_cpu = statistics.median(c for _, c in runs["tf"])
    naive_cpu = statistics.median(c for _, c in runs["naive"])
    ratio = tf_rate / naive_rate
    print(f"tf.data pipeline : {tf_rate:8.0f} images/s (runs: {', '.join(f'{r:.0f}' for r in tf_rates)}), "
          f"{tf_cpu:.0f} CPU us/image")
    print(f"naive OpenCV loop: {naive_rate:8.0f} images/s (runs: {', '.join(f'{r:.0f}' for r in naive_rates)}), "
          f"{naive_cpu:.0f} CPU us/image")
    print(f"ratio tf.data / naive: {ratio:.2f}x (medians of {FLAGS.repeats}; load average before/after: "
          f"{load_before[0]:.1f}/{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    if FLAGS.json:
        result = {"images": n, "batch_size": FLAGS.batch_size, "repeats": FLAGS.repeats, "cpus": os.cpu_count(),
                  "spec": degradation.spec, "tf_images_per_s": tf_rate, "tf_runs": tf_rates,
                  "tf_cpu_us_per_image": tf_cpu, "naive_images_per_s": naive_rate, "naive_runs": naive_rates,
                  "naive_cpu_us_per_image": naive_cpu, "ratio": ratio,
                  "load_average_before_after": [load_before[0], os.getloadavg()[0]],
                  "tensorflow": tf.__version__, "opencv": cv2.__version__}
        with open(FLAGS.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {FLAGS.json}")


if __name__ == "__main__":
    app.run(main)
