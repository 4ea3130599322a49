r"""Calibrate per-resolution verification thresholds on LFW View 1 and check them on View 2.

  python -m lrfr_tf.calibrate --model=runs/distill/embedder.keras --data=../shared/data/lfw --out=runs/calib

Writes OUT/thresholds.json (the export metadata's ``thresholds`` rows at ``--metadata_far``; give it to
``python -m lrfr_tf.export --thresholds=OUT/thresholds.json``), OUT/calibration.json (every threshold, View 1
TAR, and the View 2 check: FAR and TAR with one global threshold against the calibrated ones),
OUT/calibration.md and OUT/calibration.png. Method: ``lrfr_tf.eval.thresholds``. View 2 (pairs.txt) is never
used to choose anything; ``--test_pairs=`` (empty) skips the check.
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags, logging

from lrfr_tf import cli_logging

cli_logging.start_cli(__name__)  # before anything imports TensorFlow

from lrfr_tf.cli_errors import check_writable_dir, report  # noqa: E402
from lrfr_tf.eval.thresholds import (ABSTAIN_BELOW_TAR, CALIBRATION_PAIRS, FARS, TEST_PAIRS,  # noqa: E402
                                     check_calibration_pairs)

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Model: .tflite file, SavedModel directory, .keras file or zoo:NAME.")
flags.DEFINE_string("name", None, "Display name (default: file name).")
flags.DEFINE_string("preprocessing", None, "Preprocessing for models without one (see lrfr_tf.evaluate).")
flags.DEFINE_string("data", None, "LFW-format directory (pairs files and aligned112/).")
flags.DEFINE_list("calibration_pairs", list(CALIBRATION_PAIRS), "Pairs files whose images calibrate (View 1 only).")
flags.DEFINE_string("test_pairs", TEST_PAIRS, "Pairs file the thresholds are checked on (View 2); empty: no check.")
flags.DEFINE_list("far", [str(f) for f in FARS], "Target false-accept rates.")
flags.DEFINE_float("metadata_far", 1e-3, "The FAR whose thresholds go to OUT/thresholds.json (one of --far).")
flags.DEFINE_float("abstain_below_tar", ABSTAIN_BELOW_TAR, "A bucket whose View 1 TAR at the target FAR is below "
                   "this abstains ('too small to decide').")
flags.DEFINE_integer("batch_size", None, "Batch size (default 64; 32 for TFLite).")
flags.DEFINE_integer("num_threads", None, "TFLite interpreter threads (default: all cores).")
flags.DEFINE_string("cache_dir", None, "Persist embeddings here to skip them on re-runs.")
flags.DEFINE_string("out", None, "Output directory.")
flags.DEFINE_bool("progress", True, "Show progress bars.")
flags.mark_flags_as_required(["model", "data", "out"])


def parse_fars(values):
    fars = []
    for v in values:
        try:
            f = float(v)
        except ValueError:
            raise ValueError(f"--far: expected rates in (0, 1), got {v!r}") from None
        if not 0.0 < f < 1.0:
            raise ValueError(f"--far: expected rates in (0, 1), got {v!r}")
        fars.append(f)
    if not fars:
        raise ValueError("--far: give at least one rate")
    return fars


def main(argv):
    try:
        return run(argv)
    except (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
            app.UsageError) as e:
        return report(e, 2, FLAGS.verbosity)


def run(argv):
    del argv
    fars = parse_fars(FLAGS.far)
    if FLAGS.metadata_far not in fars:
        raise ValueError(f"--metadata_far={FLAGS.metadata_far:g} is not one of --far={','.join(FLAGS.far)}")
    if not 0.0 <= FLAGS.abstain_below_tar <= 1.0:
        raise ValueError(f"--abstain_below_tar: expected a rate in [0, 1], got {FLAGS.abstain_below_tar}")
    if not os.path.isdir(FLAGS.data):
        raise NotADirectoryError(f"--data={FLAGS.data}: no such directory")
    from lrfr_tf.zoo import resolve_model

    FLAGS.model = resolve_model(FLAGS.model)  # zoo:NAME -> the shipped file
    if not os.path.exists(FLAGS.model):
        raise FileNotFoundError(f"--model={FLAGS.model}: no such file or directory")
    check_calibration_pairs(FLAGS.calibration_pairs)  # before anything is written
    check_writable_dir(FLAGS.out, f"--out={FLAGS.out}")
    with cli_logging.log_to_file(os.path.join(FLAGS.out, "calibrate.log")):
        return calibrate_and_report(fars)


def calibrate_and_report(fars):
    from lrfr_tf.eval import reports, thresholds
    from lrfr_tf.eval.cache import EmbeddingCache
    from lrfr_tf.eval.embedders import load_embedder
    from lrfr_tf.eval.lfw import PairsData

    images = thresholds.LabelledImages(FLAGS.data, FLAGS.calibration_pairs)  # refuses View 2, checks files
    test = PairsData(FLAGS.data, FLAGS.test_pairs) if FLAGS.test_pairs else None
    embedder = load_embedder(FLAGS.model, FLAGS.preprocessing, None, FLAGS.batch_size, FLAGS.name, FLAGS.num_threads)
    cache = EmbeddingCache(FLAGS.cache_dir)
    calibration = thresholds.calibrate(embedder, images, fars=fars, abstain_below_tar=FLAGS.abstain_below_tar,
                                       cache=cache, progress=FLAGS.progress)
    checked = thresholds.evaluate_thresholds(embedder, test, calibration, cache=cache, progress=FLAGS.progress) if test else None
    cache.save()
    doc = reports.new_report({"method": "lrfr_tf.eval.thresholds", "test_pairs": test.describe() if test else None})
    doc.update({"model": embedder.describe(), "calibration": calibration, "test": checked,
                "thresholds": thresholds.metadata_rows(calibration, FLAGS.metadata_far)})
    reports.write_json(doc, os.path.join(FLAGS.out, "calibration.json"))
    with open(os.path.join(FLAGS.out, "thresholds.json"), "w", encoding="utf-8") as f:
        json.dump(doc["thresholds"], f, indent=1)
    text = thresholds.markdown(calibration, checked)
    with open(os.path.join(FLAGS.out, "calibration.md"), "w", encoding="utf-8") as f:
        f.write(f"# Per-resolution thresholds: {embedder.name}\n\n{text}")
    thresholds.plot(calibration, checked, os.path.join(FLAGS.out, "calibration.png"))
    logging.info("wrote %s", os.path.join(FLAGS.out, "thresholds.json"))
    sys.stdout.write(text)


if __name__ == "__main__":
    app.run(main)
