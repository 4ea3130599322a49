"""Periodic verification during training through the evaluation harness (lrfr_tf.eval.lfw).

``eval.data_dir`` is an LFW-format directory (``pairs.txt`` + ``aligned112/``): by default the
embedded sample ``lrfr_tf/data/sample/lfw`` (200 pairs); ``../shared/data/lfw`` for the real
6,000 pairs. Results: accuracy at full resolution and cross-resolution (CR) at ``eval.sizes``
(Knoche et al. 2021 protocol, both flips averaged), plus their mean over the CR sizes.
"""

from __future__ import annotations

import os
from typing import Dict

import keras

from lrfr_tf.train.defaults import resolve_path

_EVALUATORS: Dict[tuple, object] = {}


def evaluator_for(config):
    """A cached ``VerificationEvaluator`` (images decoded once per process)."""
    from lrfr_tf.eval.lfw import VerificationEvaluator

    data_dir = resolve_path(config.data_dir)
    key = (os.path.abspath(data_dir), config.pairs_file, tuple(config.sizes), tuple(config.modes), config.prefix)
    if key not in _EVALUATORS:
        _EVALUATORS[key] = VerificationEvaluator(data_dir, config.pairs_file, sizes=list(config.sizes),
                                                 modes=list(config.modes), prefix=config.prefix)
    return _EVALUATORS[key]


def evaluate(model: keras.Model, config) -> Dict[str, float]:
    """``{"lfw/acc_hr": .., "lfw/acc_cr_16": .., ..., "mean": mean of the CR accuracies}``."""
    results = {k: float(v) for k, v in evaluator_for(config)(model).items()}
    cr = [v for k, v in results.items() if "/acc_cr_" in k]
    results["mean"] = float(sum(cr) / len(cr)) if cr else results[f"{config.prefix}/acc_hr"]
    return results
