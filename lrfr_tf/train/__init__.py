"""Training engine: recipes, stages, distribution, checkpoints, observability.

Command line::

    python -m lrfr_tf.train --recipe=NAME [--workdir=DIR] [--config.key=value ...]
    python -m lrfr_tf.train --list                      # the recipes in recipes/
    python -m lrfr_tf.train --recipe=bt --print_config  # the resolved config

Python::

    from lrfr_tf.train.recipes import load_config
    from lrfr_tf.train.engine import Trainer
    summary = Trainer(load_config("quickstart"), "runs/quickstart").run()

Modules: ``config`` (nested configs, typed dotted overrides, scales), ``strategy`` (tf.distribute
and mixed precision), ``optim`` (optimizers and stage schedules), ``engine`` (the loop, checkpoints,
TensorBoard, evaluation, export), ``method`` + ``methods/`` (what each method trains: classifier,
siamese, super_resolution, rim), ``views`` (degraded views), ``prior_targets`` (landmark and face-mesh
parsing targets), ``evaluation`` (LFW CR accuracy
through ``lrfr_tf.eval``). A workdir holds config.json, checkpoints/, tensorboard/, best/ and
export/ (embedder.keras) and results.json.
"""
