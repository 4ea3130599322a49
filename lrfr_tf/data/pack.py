"""Pack an identity-per-folder dataset into sharded TFRecords.

    python -m lrfr_tf.data.pack SRC OUT [--examples_per_shard=10000] [--size=112]
        [--verify=strict|header|skip|none] [--alpha=error|drop|composite] [--empty=error|skip]
        [--label_map=labels.json] [--seed=0]

SRC is ``<root>/<identity>/<image>``; OUT receives the shards, ``label_map.json``
and ``dataset.json`` (see ``lrfr_tf.data.tfrecord``). Files are validated first:
``--verify=strict`` (default) decodes every file in parallel, treating libjpeg/libpng
warnings as errors, and stops listing every bad file with its reason; ``skip``
leaves them out and records them in ``dataset.json``; ``header`` is the fast
header-only scan (misses damage inside the compressed data); ``none`` checks nothing. Read the result with
``TFRecordSource(OUT)`` and ``pipeline.make_dataset``. The run's log goes to OUT/pack.log; ``--verbosity=1``
shows TensorFlow's start-up messages, debug logs and tracebacks.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging

from lrfr_tf import cli_logging

cli_logging.start_cli(__name__)  # before anything imports TensorFlow

from lrfr_tf.cli_errors import check_writable_dir, report  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("examples_per_shard", 10000, "Images per TFRecord shard.")
flags.DEFINE_list("size", ["112"], "Required image size: 'S' or 'H,W'; '0' accepts any size.")
flags.DEFINE_enum("verify", "strict", ["strict", "header", "skip", "none"],
                  "Validation of files before packing: strict/skip decode every file (warnings are errors), "
                  "header reads headers only, none checks nothing.")
flags.DEFINE_enum("alpha", "error", ["error", "drop", "composite"], "Accept images with an alpha channel?")
flags.DEFINE_enum("empty", "error", ["error", "skip"], "Empty identity folders: error or skip.")
flags.DEFINE_string("label_map", None, "Reuse this label map JSON instead of the sorted folder names.")
flags.DEFINE_integer("seed", 0, "Seed of the order in which examples are written.")
flags.DEFINE_string("prefix", "train", "Shard file name prefix.")


def _size(values):
    sizes = [int(v) for v in values]
    if sizes == [0]:
        return None
    if len(sizes) not in (1, 2) or min(sizes) <= 0:
        raise app.UsageError(f"--size must be S, H,W or 0, got {','.join(values)}")
    return sizes[0] if len(sizes) == 1 else tuple(sizes)


def main(argv):
    if len(argv) != 3:
        raise app.UsageError("usage: python -m lrfr_tf.data.pack SRC OUT [flags]")
    src, out = argv[1], argv[2]
    from lrfr_tf.data.folders import IdentityFolder
    from lrfr_tf.data.tfrecord import write_tfrecords

    size = _size(FLAGS.size)
    source = IdentityFolder(src, label_map=FLAGS.label_map, empty=FLAGS.empty)
    check_writable_dir(out, "OUT")  # before the (long) validation
    with cli_logging.log_to_file(os.path.join(out, "pack.log")):
        logging.info("%r", source)
        meta = write_tfrecords(
            source, out, examples_per_shard=FLAGS.examples_per_shard, seed=FLAGS.seed, verify=FLAGS.verify,
            size=size, alpha=FLAGS.alpha, prefix=FLAGS.prefix,
        )
    print(
        f"packed {meta['num_examples']} images of {meta['num_classes']} identities into "
        f"{len(meta['shards'])} shard(s) in {out}"
        + (f"; skipped {len(meta['skipped_files'])} bad file(s) (listed in dataset.json)" if meta["skipped_files"] else "")
    )


def run():
    # Errors in the user's data end the command with the message, not a traceback.
    try:
        app.run(main)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError) as e:
        sys.exit(report(e, 2, FLAGS.verbosity))  # --verbosity=1 shows the traceback


if __name__ == "__main__":
    run()
