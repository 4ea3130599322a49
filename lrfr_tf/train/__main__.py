"""``python -m lrfr_tf.train --recipe=NAME [--workdir=DIR] [--config.key=value ...]``.

``--list`` prints the recipes, ``--print_config`` the resolved config (without training). The run's log goes to
WORKDIR/train.log, appended to on resume (the other workers of a multi-worker run: train.worker<N>.log);
``--verbosity=1`` shows TensorFlow's start-up messages, debug logs and tracebacks.
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags

from lrfr_tf import cli_logging

cli_logging.start_cli(__name__)  # before anything imports TensorFlow

from lrfr_tf.cli_errors import check_writable_dir, report  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("recipe", None, "recipe name (recipes/<name>.py) or path to a recipe .py file")
flags.DEFINE_string("workdir", None, "output directory (default runs/<recipe>[_<scale>])")
flags.DEFINE_bool("list", False, "list the recipes and exit")
flags.DEFINE_bool("print_config", False, "print the resolved config and exit")


def split_config_args(argv):
    """Separate ``--config.a.b=v`` arguments (ours) from the flags absl parses."""
    overrides, rest = [], []
    for arg in argv:
        if arg.startswith("--config."):
            body = arg[len("--config."):]
            if "=" not in body:
                raise ValueError(f"{arg}: write config overrides as --config.key=value")
            overrides.append(body)
        else:
            rest.append(arg)
    return overrides, rest


def main(argv, overrides):
    del argv
    from lrfr_tf.train import recipes

    if FLAGS.list:
        print("\n".join(recipes.recipe_names()))
        return 0
    if not FLAGS.recipe:
        return report(ValueError("--recipe is required (see --list)"))
    try:
        config = recipes.load_config(FLAGS.recipe, overrides)
    except (KeyError, ValueError, FileNotFoundError, AttributeError) as e:  # bad recipe name or override
        return report(e, 2, FLAGS.verbosity)
    if FLAGS.print_config:
        print(config.to_json())
        return 0
    from lrfr_tf.train.engine import Trainer

    import tensorflow as tf

    from lrfr_tf.train.checkpoints import CheckpointError, WorkdirInUseError
    from lrfr_tf.train.engine import NonFiniteLossError
    from lrfr_tf.train.strategy import worker_id

    name = config.get("name", os.path.basename(FLAGS.recipe).removesuffix(".py"))
    workdir = FLAGS.workdir or os.path.join("runs", name if config.scale == "full" else f"{name}_{config.scale}")
    try:
        check_writable_dir(workdir, f"--workdir={workdir}", create=False)  # nothing written before the config is good
        trainer = Trainer(config, workdir)  # checks the config and data, then makes the workdir
        log_name = "train.log" if trainer.chief else f"train.worker{worker_id(trainer.strategy)}.log"
        with cli_logging.log_to_file(os.path.join(workdir, log_name)):
            summary = trainer.run()
    except (ValueError, KeyError, FileNotFoundError, NotADirectoryError, PermissionError, CheckpointError,
            WorkdirInUseError) as e:  # user errors: exit 2 (--verbosity=1 shows the traceback)
        return report(e, 2, FLAGS.verbosity)
    except (NonFiniteLossError, OSError, RuntimeError, tf.errors.OpError) as e:  # the run failed: exit 1
        return report(e, 1, FLAGS.verbosity)
    if "eval" in summary:
        print("final evaluation: " + json.dumps(summary["eval"], indent=1))
    print(f"trained {summary['steps_this_run']} steps in {summary['seconds']:.1f} s; outputs in {workdir}")
    return 0


def run(argv=None):
    argv = list(sys.argv if argv is None else argv)
    try:
        overrides, rest = split_config_args(argv)
    except ValueError as e:
        sys.exit(report(e))
    app.run(lambda a: main(a, overrides), argv=rest)


if __name__ == "__main__":
    run()
