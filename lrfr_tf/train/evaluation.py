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

from lrfr_tf.train.defaults import SAMPLE_LFW, resolve_path

_EVALUATORS: Dict[tuple, object] = {}


def evaluator_for(config):
    """A cached ``VerificationEvaluator`` (images decoded once per process)."""
    from lrfr_tf.eval.lfw import VerificationEvaluator

    data_dir = resolve_path(config.get("data_dir", "") or SAMPLE_LFW)
    key = (os.path.abspath(data_dir), config.get("pairs_file", "pairs.txt"), tuple(config.sizes), tuple(config.get("modes", ["cr"])))
    if key not in _EVALUATORS:
        _EVALUATORS[key] = VerificationEvaluator(data_dir, key[1], sizes=list(config.sizes), modes=list(key[3]),
                                                 prefix=config.get("prefix", "lfw"))
    return _EVALUATORS[key]


def evaluate(model: keras.Model, config) -> Dict[str, float]:
    """``{"lfw/acc_hr": .., "lfw/acc_cr_16": .., ..., "mean": mean of the CR accuracies}``."""
    results = {k: float(v) for k, v in evaluator_for(config)(model).items()}
    cr = [v for k, v in results.items() if "/acc_cr_" in k]
    results["mean"] = float(sum(cr) / len(cr)) if cr else results.get(f"{config.get('prefix', 'lfw')}/acc_hr", 0.0)
    return results
