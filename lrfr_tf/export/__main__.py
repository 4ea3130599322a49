r"""Export a face embedder for TF Serving and cameras, gated on parity with the source model.

  python -m lrfr_tf.export --model=../shared/data/models/mobilefacenet/MobileFaceNet.tflite --out=exports \
      --gate_data=../shared/data/lfw

--model takes a .keras embedder (any recipe), a training workdir, a SavedModel or a MobileFaceNet-family
.tflite. Writes OUT/NAME/<version>/ (see lrfr_tf.export.exporter); exit 1 with a table when the parity
gate fails, exit 2 on bad input.
"""

from __future__ import annotations

import os
import sys

from lrfr_tf import cli_logging

cli_logging.start_cli(__name__)  # before anything imports TensorFlow

from absl import app, flags, logging  # noqa: E402

from lrfr_tf.cli_errors import check_writable_dir, report  # noqa: E402
from lrfr_tf.export.tflite import QUANTIZED_FORMATS  # noqa: E402
from lrfr_tf.export.exporter import (FORMATS, GateFailed, default_calibration_dir, default_gate_dir,  # noqa: E402
                                     parse_formats)

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Source: .keras file, training workdir, SavedModel directory or .tflite file.")
flags.DEFINE_string("out", None, "Output base folder: the export goes to OUT/NAME/<next version>/.")
flags.DEFINE_string("name", None, "Model name (default: the source's file or folder name).")
flags.DEFINE_list("formats", list(FORMATS), "Formats: " + ", ".join(FORMATS) + ".")
flags.DEFINE_string("calibration_data", None, "Folder of aligned faces (searched recursively) calibrating the "
                    "quantised formats (tflite_dynamic, tflite_int8) "
                    "(default: the face sample shipped with lrfr_tf).")
flags.DEFINE_integer("calibration_size", 240, "Calibration faces (each degraded to one of 12 sizes, 8-112 px).")
flags.DEFINE_string("gate_data", None, "LFW-format folder for the parity gate (aligned112/, pairs.txt, optional "
                    "protocols/low_res_focus.csv); default $LRFR_GATE_DATA, else the packaged 200-pair LFW sample.")
flags.DEFINE_integer("gate_faces", 500, "Faces for the per-image cosine check.")
flags.DEFINE_bool("no_gate", False, "Skip the parity gate (for experiments; the metadata says so).")
flags.DEFINE_string("preprocessing", None, "Input contract for a model that carries none ('arcface', "
                    "'sphereface_112x96', a JSON file or config).")
flags.DEFINE_enum("int8_io", "int8", ["int8", "uint8"], "Input/output type of the full-integer int8 model.")
flags.DEFINE_integer("num_threads", None, "LiteRT threads in the gate (default: all cores).")
flags.DEFINE_string("thresholds", None, "Per-resolution thresholds for the metadata: OUT/thresholds.json (or "
                    "calibration.json) written by python -m lrfr_tf.calibrate.")
flags.mark_flags_as_required(["model", "out"])


def read_thresholds(path: str) -> list:
    """The ``thresholds`` rows of a ``python -m lrfr_tf.calibrate`` output (thresholds.json, a list, or
    calibration.json, whose ``thresholds`` entry is that list), checked; ValueError naming the file."""
    import json

    from lrfr_tf.model_metadata import parse_thresholds

    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"--thresholds={path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"--thresholds={path}: not a JSON file ({e})") from None
    rows = doc.get("thresholds") if isinstance(doc, dict) else doc
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"--thresholds={path}: expected a non-empty list of {{min_px, max_px, threshold, far}} rows "
                         "(thresholds.json from python -m lrfr_tf.calibrate)")
    parse_thresholds(rows, f"--thresholds={path}")
    return rows


def main(argv):
    try:
        return run(argv)
    except GateFailed as e:
        print(str(e), file=sys.stderr)
        print(f"the failed export is kept for inspection in {e.where}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, app.UsageError) as e:
        return report(e, 2, FLAGS.verbosity)


def run(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    from lrfr_tf.export import exporter
    from lrfr_tf.export.parity import GateData
    from lrfr_tf.export.sources import load_source, resolve_source
    from lrfr_tf.preprocessing import as_preprocessing

    formats = parse_formats(FLAGS.formats)
    if FLAGS.name is not None and (not FLAGS.name or os.sep in FLAGS.name or FLAGS.name.startswith(".")):
        raise ValueError(f"--name={FLAGS.name!r}: expected a plain folder name")
    if FLAGS.calibration_size < 1 or FLAGS.gate_faces < 1:
        raise ValueError("--calibration_size and --gate_faces must be >= 1")
    preprocessing = as_preprocessing(FLAGS.preprocessing) if FLAGS.preprocessing else None
    # Inputs are checked before anything expensive: the source exists and is a model, the output folder is
    # writable, the gate folder has pairs and images, calibration faces decode.
    from lrfr_tf.zoo import resolve_model

    FLAGS.model = resolve_model(FLAGS.model)  # zoo:NAME -> the shipped file
    resolve_source(FLAGS.model)
    thresholds = read_thresholds(FLAGS.thresholds) if FLAGS.thresholds else None
    check_writable_dir(FLAGS.out, f"--out={FLAGS.out}")
    gate_data = GateData(FLAGS.gate_data or default_gate_dir(), FLAGS.gate_faces) if not FLAGS.no_gate else None
    source = load_source(FLAGS.model, preprocessing, FLAGS.name)
    calibration = None
    if any(f in QUANTIZED_FORMATS for f in formats):  # decode-checked before the expensive work
        calibration = exporter.load_calibration_faces(FLAGS.calibration_data or default_calibration_dir(),
                                                      FLAGS.calibration_size, source.preprocessing.aligned_size)
    with cli_logging.log_to_file(os.path.join(FLAGS.out, "export.log")):
        result = exporter.export_model(source, FLAGS.out, FLAGS.name, formats, calibration, gate_data, not FLAGS.no_gate,
                                       FLAGS.int8_io, FLAGS.num_threads, log=logging.info,
                                       thresholds=thresholds)
    if result["gate"] is not None:
        from lrfr_tf.export.parity import format_table

        print(format_table(result["gate"]))
    print(f"exported {source.name} -> {result['path']}")
    return 0


if __name__ == "__main__":
    app.run(main)
