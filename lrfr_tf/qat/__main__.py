r"""Int8 by quantisation-aware training (three steps, two environments) or by ai-edge-quantizer (one step).

  # main environment (Keras 3): the twin file and the distillation set
  python -m lrfr_tf.qat prepare --model=../shared/data/models/mobilefacenet/MobileFaceNet.tflite --out=qat \
      --train_data=../shared/data/celeba/aligned112
  # qat environment (tf_keras + tfmot, its own venv): QAT fine-tune, int8 .tflite
  /work/venvs/qat/bin/python -m lrfr_tf.qat train --out=qat --steps=600
  # main environment: the export's parity gate, metadata -> qat/NAME_qat_int8.tflite (+ .json)
  python -m lrfr_tf.qat finish --model=../shared/data/models/mobilefacenet/MobileFaceNet.tflite --out=qat \
      --gate_data=../shared/data/lfw

  # main environment: ai-edge-quantizer static int8 of a float .tflite (an lrfr_tf fp32 export), gated
  python -m lrfr_tf.qat aeq --model=SRC --tflite=exports/NAME/1/tflite/NAME_fp32.tflite --out=aeq

Exit 2 with one line on bad input, 1 when the gate fails (the files are kept, marked "failed").
"""

from __future__ import annotations

import json
import os
import sys

from lrfr_tf import cli_logging

cli_logging.start_cli(__name__)  # before anything imports TensorFlow

from absl import app, flags, logging  # noqa: E402

from lrfr_tf.cli_errors import check_writable_dir, report  # noqa: E402

STEPS = ("prepare", "train", "finish", "aeq")
TWIN_FILE, DISTILL_FILE, QAT_TFLITE = "twin.npz", "distill.npz", "qat_int8.tflite"

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Source model (prepare, finish, aeq): anything python -m lrfr_tf.export takes.")
flags.DEFINE_string("out", None, "Working folder of the run (every step).")
flags.DEFINE_string("name", None, "Model name of the output files (default: the source's name).")
flags.DEFINE_string("train_data", None, "prepare: folder of aligned training faces (searched recursively; default: "
                    "the packaged CelebA sample). Never the evaluation pairs.")
flags.DEFINE_integer("train_faces", 3000, "prepare: faces taken from --train_data (evenly over its sorted files).")
flags.DEFINE_integer("copies", 2, "prepare: degraded copies of each face (plus the face itself).")
flags.DEFINE_string("check_data", None, "prepare: LFW-format folder whose first 64 faces check the twin "
                    "(default: the gate's default data).")
flags.DEFINE_string("calibration_data", None, "prepare/aeq: faces for the equalisation statistics / AEQ "
                    "calibration (default: the packaged sample).")
flags.DEFINE_integer("calibration_size", 240, "prepare/aeq: calibration faces.")
flags.DEFINE_bool("equalize", True, "prepare: start QAT from the export's cross-layer-equalised weights.")
flags.DEFINE_integer("steps", 600, "train: QAT steps.")
flags.DEFINE_integer("batch_size", 32, "train: faces per step.")
flags.DEFINE_float("learning_rate", 2e-5, "train: initial Adam learning rate (cosine decay to 0).")
flags.DEFINE_integer("holdout", 256, "train: distillation rows held out for the before/after cosine.")
flags.DEFINE_enum("int8_io", "int8", ["int8", "uint8"], "train: input/output type of the int8 model.")
flags.DEFINE_string("tflite", None, "aeq: the float32 .tflite to quantise (with a signature).")
flags.DEFINE_string("gate_data", None, "finish/aeq: LFW-format folder for the parity gate (default "
                    "$LRFR_GATE_DATA, else the packaged 200-pair sample).")
flags.DEFINE_integer("gate_faces", 500, "finish/aeq: faces for the per-image cosine check.")
flags.DEFINE_bool("no_gate", False, "finish/aeq: skip the parity gate (the metadata says so).")
flags.DEFINE_integer("num_threads", None, "finish/aeq: LiteRT threads in the gate.")


def main(argv):
    try:
        return run(argv)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, app.UsageError) as e:
        return report(e, 2, FLAGS.verbosity)


def _require(*names):
    for name in names:
        if getattr(FLAGS, name) is None:
            raise app.UsageError(f"--{name} is required for `{FLAGS_STEP[0]}`")


FLAGS_STEP = [""]


def _file(path: str, what: str) -> str:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}: {path} does not exist")
    return path


def run(argv):
    if len(argv) != 2 or argv[1] not in STEPS:
        raise app.UsageError(f"give one step: {' | '.join(STEPS)} (got {argv[1:]})")
    step = FLAGS_STEP[0] = argv[1]
    _require("out")
    if FLAGS.steps < 1 or FLAGS.batch_size < 1 or FLAGS.train_faces < 1 or FLAGS.copies < 0 \
            or FLAGS.calibration_size < 1 or FLAGS.gate_faces < 1 or FLAGS.learning_rate <= 0:
        raise ValueError("--steps, --batch_size, --train_faces, --calibration_size, --gate_faces must be >= 1, "
                         "--copies >= 0, --learning_rate > 0")
    if step == "train":
        return _train()
    _require("model")
    from lrfr_tf.export.sources import resolve_source

    resolve_source(FLAGS.model)
    return {"prepare": _prepare, "finish": _finish, "aeq": _aeq}[step]()


def _prepare():
    from lrfr_tf.export.exporter import (default_calibration_dir, default_gate_dir, list_images,
                                         load_calibration_faces)
    from lrfr_tf.export.parity import GateData

    train_dir = FLAGS.train_data or default_calibration_dir()
    list_images(train_dir, f"--train_data={train_dir}")
    check = GateData(FLAGS.check_data or default_gate_dir(), 64)
    check_writable_dir(FLAGS.out, f"--out={FLAGS.out}")
    from lrfr_tf.eval.degradation import ResolutionDegradation
    from lrfr_tf.export.sources import load_source
    from lrfr_tf.export.tflite import calibration_inputs
    from lrfr_tf.qat import dataset
    from lrfr_tf.qat.describe import write_twin

    with cli_logging.log_to_file(os.path.join(FLAGS.out, "qat.log")):
        source = load_source(FLAGS.model, name=FLAGS.name)
        size = source.preprocessing.aligned_size
        equalize_on = None
        if FLAGS.equalize:
            cal_dir = FLAGS.calibration_data or default_calibration_dir()
            faces = load_calibration_faces(cal_dir, FLAGS.calibration_size, size)
            equalize_on = calibration_inputs(faces, source.preprocessing, ResolutionDegradation())
        arch = write_twin(source, os.path.join(FLAGS.out, TWIN_FILE), check.faces(), equalize_on)
        logging.info("twin file: %d nodes, %d equalised pairs", len(arch["nodes"]), arch["equalized_pairs"])
        faces = load_calibration_faces(train_dir, FLAGS.train_faces, size, f"--train_data={train_dir}")
        data = dataset.build(source, faces, copies=FLAGS.copies)
        dataset.write(os.path.join(FLAGS.out, DISTILL_FILE), data,
                      {"train_data": os.path.relpath(train_dir), "faces": int(len(faces)), "copies": FLAGS.copies,
                       "sizes": list(dataset.TRAIN_SIZES), "rows": int(len(data["images"]))})
    print(f"prepared {FLAGS.out}/{TWIN_FILE} and {FLAGS.out}/{DISTILL_FILE} ({len(data['images'])} rows); next, in "
          f"the qat environment: python -m lrfr_tf.qat train --out={FLAGS.out}")
    return 0


def _train():
    try:
        import tf_keras  # noqa: F401
        import tensorflow_model_optimization  # noqa: F401
    except ImportError:
        raise ValueError("`train` runs in the qat environment: python3 -m venv --system-site-packages VENV && "
                         "VENV/bin/pip install -e '.[qat]' (README, 'Quantisation-aware training')") from None
    twin = _file(os.path.join(FLAGS.out, TWIN_FILE), f"--out={FLAGS.out} (run `prepare` first)")
    data = _file(os.path.join(FLAGS.out, DISTILL_FILE), f"--out={FLAGS.out} (run `prepare` first)")
    from lrfr_tf.qat import train

    with cli_logging.log_to_file(os.path.join(FLAGS.out, "qat.log")):
        result = train.run(twin, data, FLAGS.out, FLAGS.steps, FLAGS.batch_size, FLAGS.learning_rate,
                           holdout=FLAGS.holdout, io_dtype=FLAGS.int8_io, log=logging.info)
    print(f"wrote {FLAGS.out}/{QAT_TFLITE}: held-out cosine to the teacher "
          f"{result['holdout_cosine']['tflite_int8']['mean']:.4f}; next, in the main environment: "
          f"python -m lrfr_tf.qat finish --model=SRC --out={FLAGS.out}")
    return 0


def _gate_and_finish(source, tflite_path: str, route: str, quantization: dict) -> int:
    from lrfr_tf.export import parity
    from lrfr_tf.export.exporter import default_gate_dir
    from lrfr_tf.qat import gate

    name = FLAGS.name or source.name
    out_path = os.path.join(FLAGS.out, f"{name}_{route}.tflite")
    report_ = None
    if not FLAGS.no_gate:
        data = parity.GateData(FLAGS.gate_data or default_gate_dir(), FLAGS.gate_faces)
        report_ = gate.gate_routes(source, {route: tflite_path}, data, FLAGS.num_threads, log=logging.info)
        parity.plot(report_, os.path.join(FLAGS.out, f"{name}_{route}_gate.png"))
        with open(os.path.join(FLAGS.out, f"{name}_{route}_gate.json"), "w", encoding="utf-8") as f:
            json.dump(report_, f, indent=1, sort_keys=True)
    gate.finish(source, tflite_path, out_path, quantization, report_, route)
    if report_ is not None:
        print(parity.format_table(report_))
    print(f"wrote {out_path}")
    if report_ is not None and not report_["passed"]:
        print(f"error: the {route} model fails the parity gate (kept, metadata gate: failed)", file=sys.stderr)
        return 1
    return 0


def _finish():
    from lrfr_tf.export.sources import load_source

    tflite_path = _file(os.path.join(FLAGS.out, QAT_TFLITE), f"--out={FLAGS.out} (run `train` first)")
    train_report = os.path.join(FLAGS.out, "qat_train.json")
    details = {}
    if os.path.isfile(train_report):
        with open(train_report, encoding="utf-8") as f:
            details = json.load(f)
    with cli_logging.log_to_file(os.path.join(FLAGS.out, "qat.log")):
        source = load_source(FLAGS.model, name=FLAGS.name)
        quantization = {"weights": "int8 per-channel symmetric", "activations": "int8 per-tensor (QAT ranges)",
                        "compute": "int8, every op", "method": "quantisation-aware training (tfmot, tf_keras twin, "
                        "distillation to the source's embeddings)",
                        "training": {k: details.get(k) for k in ("steps", "batch_size", "learning_rate",
                                                                 "distillation_set", "holdout_cosine", "twin_parity")}}
        return _gate_and_finish(source, tflite_path, "qat_int8", quantization)


def _aeq():
    from lrfr_tf.eval.degradation import ResolutionDegradation
    from lrfr_tf.export.exporter import default_calibration_dir, load_calibration_faces
    from lrfr_tf.export.sources import load_source
    from lrfr_tf.export.tflite import calibration_inputs
    from lrfr_tf.qat import aeq

    _require("tflite")
    with open(_file(FLAGS.tflite, "--tflite"), "rb") as f:
        float_bytes = f.read()
    if float_bytes[4:8] != b"TFL3":
        raise ValueError(f"--tflite={FLAGS.tflite}: not a TFLite flatbuffer")
    aeq.signature_input(float_bytes)
    check_writable_dir(FLAGS.out, f"--out={FLAGS.out}")
    with cli_logging.log_to_file(os.path.join(FLAGS.out, "qat.log")):
        source = load_source(FLAGS.model, name=FLAGS.name)
        faces = load_calibration_faces(FLAGS.calibration_data or default_calibration_dir(), FLAGS.calibration_size,
                                       source.preprocessing.aligned_size)
        calibration = calibration_inputs(faces, source.preprocessing, ResolutionDegradation())
        quantized = aeq.static_int8(float_bytes, calibration)
        raw = os.path.join(FLAGS.out, "aeq_int8.tflite")
        with open(raw, "wb") as f:
            f.write(quantized)
        quantization = {"weights": "int8 per-channel symmetric", "activations": "int8 per-tensor (calibrated)",
                        "method": "ai-edge-quantizer static_wi8_ai8 (min/max)", "ops": aeq.describe(quantized),
                        "float_source": os.path.basename(FLAGS.tflite), "calibration_inputs": int(len(calibration))}
        return _gate_and_finish(source, raw, "aeq_int8", quantization)


if __name__ == "__main__":
    app.run(main)
