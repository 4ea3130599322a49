r"""Evaluate face embedders under resolution loss and write a report.

  python -m lrfr_tf.evaluate \
      --model=../shared/data/models/mobilefacenet/MobileFaceNet.tflite \
      --data=../shared/data/lfw --protocol=sweep,published --out=runs/eval

Several ``--model`` flags are compared in one report (same pairs, same
protocols). Writes OUT/report.json (every figure and setting), OUT/report.md,
OUT/accuracy_vs_resolution.png, OUT/roc_<model>.png, OUT/similarity_<model>.png,
OUT/scores_<model>.npz and, with identification, OUT/identification.png; the run's log goes to
OUT/evaluate.log. ``--verbosity=1`` shows TensorFlow's start-up messages, debug logs and tracebacks.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging

from lrfr_tf import cli_logging

cli_logging.start_cli(__name__)  # before anything imports TensorFlow

from lrfr_tf.cli_errors import check_writable_dir, report  # noqa: E402
from lrfr_tf.eval.protocols import DEFAULT_SIZES  # noqa: E402
from lrfr_tf.eval.runner import PROTOCOL_HELP  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("model", None, "Model: .tflite file, SavedModel directory or .keras file. Repeat to compare models.")
flags.DEFINE_multi_string("name", None, "Display name per --model, in the same order (default: file name).")
flags.DEFINE_string("preprocessing", None, "Preprocessing for models without one: 'arcface', 'sphereface_112x96' (centre 112x96 crop of the aligned face), a JSON file or a JSON config.")
flags.DEFINE_enum("flip", "none", ["none", "sum", "concat"], "Flip-augmented embeddings: sum or concat of original and mirrored.")
flags.DEFINE_string("data", None, "LFW-format directory: the pairs file and images under --images_subdir.")
flags.DEFINE_string("pairs", "pairs.txt", "Pairs file, relative to --data or a path.")
flags.DEFINE_string("images_subdir", "aligned112", "Image folder inside --data.")
flags.DEFINE_list("protocol", ["sweep", "published"], "Protocols, " + PROTOCOL_HELP)
flags.DEFINE_list("sizes", [str(s) for s in DEFAULT_SIZES], "Side lengths (px) of the CR/ER sweep.")
flags.DEFINE_string("protocols_dir", None, "Folder of the published protocol files (default: DATA/protocols).")
flags.DEFINE_string("identification_data", None, "Identity-folder dataset for identification, e.g. ../shared/data/celeba/aligned112.")
flags.DEFINE_enum("identification_identities", "all", ["all", "train", "holdout"], "Identities of "
                  "--identification_data: all, or one side of the fixed split of lrfr_tf.data.splits (holdout: those a "
                  "model trained with data.identities=train never saw).")
flags.DEFINE_list("identification_sizes", None, "Probe sizes for identification (default: --sizes).")
flags.DEFINE_integer("gallery_seed", None, "Pick each identity's gallery image with this seed (default: its first file).")
flags.DEFINE_enum("kernel", "bicubic", ["bicubic", "bilinear", "area", "nearest"], "Down-sampling kernel.")
flags.DEFINE_bool("antialias", True, "Antialias when down-sampling.")
flags.DEFINE_enum("up_kernel", None, ["bicubic", "bilinear", "area", "nearest"], "Up-sampling kernel (default: --kernel).")
flags.DEFINE_string("degradation", None, "A degradation spec or preset (e.g. 'camera', "
                    "'blur(0.5,1.5)|resolution(low=8,high=32)|jpeg(30,90)|resize()'): evaluate under the training "
                    "ops with every resolution op set to the protocol's size (replaces --kernel/--antialias).")
flags.DEFINE_integer("degradation_seed", 0, "Base seed of --degradation's per-image randomness.")
flags.DEFINE_bool("round_to_uint8", False, "Round degraded images to integers before embedding (default: float input).")
flags.DEFINE_integer("batch_size", None, "Batch size for models without a fixed batch (default 64; 32 for TFLite).")
flags.DEFINE_integer("num_threads", None, "TFLite: one-thread interpreters run in parallel, each on a share of every batch (default: all cores).")
flags.DEFINE_string("cache_dir", None, "Persist embeddings here (per model fingerprint) to skip them on re-runs.")
flags.DEFINE_string("out", None, "Output directory.")
flags.DEFINE_bool("save_scores", True, "Write the per-pair similarity scores to OUT/scores_<model>.npz.")
flags.DEFINE_bool("progress", True, "Show progress bars.")
flags.mark_flags_as_required(["model", "out"])


def parse_sizes(values, flag: str):
    """Side lengths from a list flag: positive integers, else ValueError naming the flag."""
    sizes = []
    for v in values:
        v = str(v).strip()
        if not (v.isascii() and v.isdigit()) or int(v) < 1:
            raise ValueError(f"--{flag}: sizes must be whole numbers of pixels >= 1, got {v!r}")
        sizes.append(int(v))
    if not sizes:
        raise ValueError(f"--{flag}: give at least one size")
    return sizes


def main(argv):
    try:
        return run(argv)
    except (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
            app.UsageError) as e:  # user errors: one line, exit 2 (--verbosity=1 shows the traceback)
        return report(e, 2, FLAGS.verbosity)


def run(argv):
    del argv
    from lrfr_tf.eval.degradation import ResolutionDegradation, SpecDegradation

    names = FLAGS.name or []
    if names and len(names) != len(FLAGS.model):
        raise ValueError(f"{len(names)} --name for {len(FLAGS.model)} --model")
    sizes = parse_sizes(FLAGS.sizes, "sizes")
    id_sizes = parse_sizes(FLAGS.identification_sizes, "identification_sizes") if FLAGS.identification_sizes else sizes
    tokens = [t.strip() for t in FLAGS.protocol]
    want_identification = "identification" in tokens
    verification_tokens = [t for t in tokens if t != "identification"]
    if want_identification and not FLAGS.identification_data:
        raise ValueError("--protocol=identification needs --identification_data")
    if verification_tokens and not FLAGS.data:
        raise ValueError(f"--protocol={','.join(verification_tokens)} needs --data")

    if FLAGS.batch_size is not None and FLAGS.batch_size < 1:
        raise ValueError(f"--batch_size must be >= 1, got {FLAGS.batch_size}")
    degradation = (SpecDegradation(FLAGS.degradation, FLAGS.degradation_seed) if FLAGS.degradation  # checked now
                   else ResolutionDegradation(FLAGS.kernel, FLAGS.antialias, FLAGS.up_kernel, FLAGS.round_to_uint8))
    check_writable_dir(FLAGS.out, f"--out={FLAGS.out}")
    with cli_logging.log_to_file(os.path.join(FLAGS.out, "evaluate.log")):
        return evaluate_and_report(names, sizes, id_sizes, verification_tokens, want_identification, degradation)


def evaluate_and_report(names, sizes, id_sizes, verification_tokens, want_identification, degradation):
    """Load the data and models, evaluate, write OUT/report.* and print report.md (flags checked, --out writable)."""
    from lrfr_tf.eval import runner
    from lrfr_tf.eval.cache import EmbeddingCache
    from lrfr_tf.eval.embedders import load_embedder
    from lrfr_tf.eval.identification import IdentificationData
    from lrfr_tf.eval.lfw import PairsData

    pairs_data, protocols = None, []
    if verification_tokens:
        pairs_data = PairsData(FLAGS.data, FLAGS.pairs, FLAGS.images_subdir)
        protocols_dir = FLAGS.protocols_dir or os.path.join(FLAGS.data, "protocols")
        protocols = runner.parse_protocols(verification_tokens, pairs_data.num_pairs, sizes, protocols_dir, FLAGS.out)
    identification_data = IdentificationData(FLAGS.identification_data, FLAGS.gallery_seed,
                                                                        FLAGS.identification_identities) if want_identification else None

    embedders = [
        load_embedder(path, FLAGS.preprocessing, FLAGS.flip, FLAGS.batch_size, names[i] if names else None, FLAGS.num_threads)
        for i, path in enumerate(FLAGS.model)
    ]
    report = runner.evaluate_models(
        embedders,
        FLAGS.out,
        pairs_data,
        protocols,
        identification_data,
        id_sizes,
        degradation,
        EmbeddingCache(FLAGS.cache_dir),
        model_paths=FLAGS.model,
        save_scores=FLAGS.save_scores,
        progress=FLAGS.progress,
    )
    logging.info("wrote %s (%.0f s)", os.path.join(FLAGS.out, "report.json"), report["run_time_s"])
    with open(os.path.join(FLAGS.out, "report.md"), encoding="utf-8") as f:
        sys.stdout.write(f.read())


if __name__ == "__main__":
    app.run(main)
