"""Evaluation harness: verification and identification under resolution loss.

Modules: ``embedders`` (Keras / SavedModel / TFLite behind one interface),
``verification`` (LFW 10-fold accuracy, ROC, AUC, EER, TAR@FAR), ``protocols``
(CR/ER sweeps, the published protocol files, generated protocols),
``degradation``, ``cache``, ``imageset``, ``lfw`` (pair verification runs and
the periodic-evaluation API for training), ``identification``, ``quality``
(PSNR/SSIM), ``reports`` and ``runner`` (several models, one report).

The names below are imported lazily, so ``import lrfr_tf.eval`` stays cheap.
"""

import importlib

_EXPORTS = {
    "Embedder": "embedders",
    "load_embedder": "embedders",
    "EmbeddingCache": "cache",
    "ResolutionDegradation": "degradation",
    "SpecDegradation": "degradation",
    "PairsData": "lfw",
    "evaluate_verification": "lfw",
    "VerificationEvaluator": "lfw",
    "lfw_cr_accuracy": "lfw",
    "IdentificationData": "identification",
    "evaluate_identification": "identification",
    "evaluate_restoration": "quality",
    "evaluate_models": "runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"lrfr_tf.eval.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'lrfr_tf.eval' has no attribute {name!r}")
