"""What a training method supplies to the engine: models, input features, loss terms, an embedder.

A *method* (classifier, siamese, super-resolution, RIM ...) is registered in ``METHODS`` and
chosen by ``config.method``; a *recipe* is a config for one method plus its stages. The
engine owns everything else (distribution, optimizers, checkpoints, logging, evaluation).
"""

from __future__ import annotations

import logging
import os
from typing import Dict, Iterable

import keras
import numpy as np
import tensorflow as tf

from lrfr_tf.registry import Registry

logger = logging.getLogger(__name__)

METHODS = Registry("training method")

Features = Dict[str, tf.Tensor]
Terms = Dict[str, tf.Tensor]


class Method:
    """Base class. Subclasses implement ``build_models``, ``loss_terms`` and ``embedding_model``.

    ``config`` is the whole resolved recipe config; ``num_classes`` comes from the training data.
    """

    #: Names of the loss terms ``loss_terms`` can produce (checked against the stage configs).
    TERMS: tuple = ()

    def __init__(self, config, num_classes: int):
        self.config = config
        self.num_classes = int(num_classes)

    # Models ---------------------------------------------------------------------------------------
    def build_models(self) -> Dict[str, keras.Model]:
        """Create and build (weights exist) every model; called under the strategy scope."""
        raise NotImplementedError

    def initialize(self, models: Dict[str, keras.Model]) -> None:
        """Load pretrained weights (fresh runs only; a resumed run restores its checkpoint)."""

    def embedding_model(self, models: Dict[str, keras.Model]) -> keras.Model:
        """normalised images [B, H, W, 3] -> embeddings [B, D], with a ``preprocessing`` attribute."""
        raise NotImplementedError

    def ablation_models(self, models: Dict[str, keras.Model]) -> Dict[str, keras.Model]:
        """{name: embedder} other embedders of the same weights, exported beside ``embedder.keras`` as
        ``embedder_<name>.keras``: a paper's ablation measured on the same run (e.g. RIM's student without its
        assistant). Default: none."""
        return {}

    # Data -----------------------------------------------------------------------------------------
    def map_fn(self):
        """Per-element ``(features, seed) -> features`` (augmentation, degraded views) or None."""
        return None

    def batch_map_fn(self):
        """Per-batch ``(batch, seed) -> batch`` (e.g. degrade a fraction of the batch) or None."""
        return None

    # Losses ---------------------------------------------------------------------------------------
    def loss_terms(self, models: Dict[str, keras.Model], batch: Features, trainable: Iterable[str],
                   needed: Iterable[str]) -> Terms:
        """Named loss terms: per-example [B] (averaged over the global batch) or scalars
        (batch statistics such as MMD, averaged over replicas). Models in ``trainable`` run with
        ``training=True``, all others frozen (``training=False``). Compute at least ``needed``."""
        raise NotImplementedError

    def summary_images(self, models: Dict[str, keras.Model], batch: Features) -> Dict[str, tf.Tensor]:
        """Images [N, H, W, 3] in [0, 255] for TensorBoard (LR input, SR output, HR target)."""
        return {}

    def on_step(self, models: Dict[str, keras.Model], step: int) -> None:
        """Called on the host before each step (e.g. SphereFace lambda annealing)."""


class RecognizerMethod(Method):
    """A method training one ``backbone`` + margin ``head`` with softmax cross-entropy (term ``ce``)."""

    def __init__(self, config, num_classes: int):
        super().__init__(config, num_classes)
        self.ce = create_loss("softmax_cross_entropy", label_smoothing=float(config.model.label_smoothing))

    def build_models(self) -> Dict[str, keras.Model]:
        backbone = create_backbone(self.config.model, (*self.config.data.image_size, 3))
        return {"backbone": backbone, "head": create_head(self.config.model, self.num_classes, backbone.embedding_dim)}

    def initialize(self, models) -> None:
        initialize_backbone(models["backbone"], self.config.model)

    def embedding_model(self, models) -> keras.Model:
        return models["backbone"]


def check_term(name: str, value: tf.Tensor) -> tf.Tensor:
    value = tf.cast(value, tf.float32)
    if value.shape.rank not in (0, 1):
        raise ValueError(f"loss term {name!r} must be per-example [B] or a scalar, got shape {value.shape}")
    return value


def build_model(model: keras.Model, input_shape) -> keras.Model:
    """Create a subclassed model's weights by calling it on zeros of ``input_shape`` ([H, W, C])."""
    model(tf.zeros([1, *input_shape], tf.float32), training=False)
    return model


def load_pretrained(model: keras.Model, path: str) -> None:
    """Copy weights into ``model`` from a .keras file (e.g. a training workdir's ``export/embedder.keras``)
    or a .weights.h5 file.

    The architectures must match (same weight shapes in the same order).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: pretrained model not found")
    if path.endswith(".weights.h5"):
        model.load_weights(path)
        return
    if path.endswith(".keras"):
        source = keras.models.load_model(path, compile=False)
    else:
        raise ValueError(f"{path}: pretrained weights must be a .keras or .weights.h5 file (or a .tflite MobileFaceNet as model.init)")
    source_weights = source.get_weights()
    target = model.weights
    if len(source_weights) != len(target) or any(np.shape(a) != tuple(b.shape) for a, b in zip(source_weights, target)):
        raise ValueError(
            f"{path}: its weights do not match {model.name} ({len(source_weights)} vs {len(target)} tensors); "
            f"set the backbone config to the architecture of the pretrained model"
        )
    model.set_weights(source_weights)
    logger.info("initialised %s from %s", model.name, path)


def import_components() -> None:
    """Import every module of lrfr_tf.models and lrfr_tf.losses so their registries are filled."""
    import importlib
    import pkgutil

    for package_name in ("lrfr_tf.models", "lrfr_tf.losses"):
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package_name}.{info.name}")


#: ``model.backbone_kwargs`` that apply to a MobileFaceNet imported from a .tflite ``model.init``.
IMPORT_KWARGS = ("activation", "head", "input_size")


def create_backbone(model_config, input_shape=(112, 112, 3)) -> keras.Model:
    """``model_config`` (``defaults.backbone_config``): backbone (registry name), embedding_dim, backbone_kwargs, init.

    ``init`` ending in ``.tflite`` imports that MobileFaceNet (architecture and weights, the one
    loader ``load_mobilefacenet_tflite``; with BatchNorm for fine-tuning unless ``init_batch_norm`` is false)
    instead of creating ``backbone``: the pretrained starting point; of ``backbone_kwargs`` only
    ``IMPORT_KWARGS`` apply (e.g. ``activation: relu``: the file's convolutions with ReLU; ``input_size: [80, 80]``
    with ``head: adaptive_gdc``: a smaller input).
    """
    init = model_config.init
    if init.endswith(".tflite"):
        from lrfr_tf.models.mobilefacenet import load_mobilefacenet_tflite
        from lrfr_tf.train.defaults import resolve_path

        path = resolve_path(init)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: pretrained MobileFaceNet .tflite not found (config model.init)")
        kwargs = model_config.backbone_kwargs.to_dict()
        applied = {k: kwargs.pop(k) for k in IMPORT_KWARGS if k in kwargs}
        if kwargs:  # the imported architecture is fixed: say so rather than drop the settings silently
            logger.warning("config model.backbone_kwargs %s not applied: the MobileFaceNet imported from %s has a "
                           "fixed architecture (only %s apply)", kwargs, path, ", ".join(IMPORT_KWARGS))
        try:
            backbone = load_mobilefacenet_tflite(path, batch_norm=bool(model_config.init_batch_norm), **applied)
        except ValueError as e:
            raise ValueError(f"config model.backbone_kwargs: {e}") from None
        logger.info("backbone: MobileFaceNet imported from %s%s", path, f" ({applied})" if applied else "")
        return build_model(backbone, (*backbone.preprocessing.size, input_shape[-1]))  # its own input size
    from lrfr_tf.models.model_registry import create_backbone as create

    import_components()
    kwargs = model_config.backbone_kwargs.to_dict()
    try:
        backbone = create(model_config.backbone, embedding_dim=int(model_config.embedding_dim), **kwargs)
    except ValueError as e:
        raise ValueError(f"config model.backbone / model.backbone_kwargs: {e}") from None
    return build_model(backbone, input_shape)


def initialize_backbone(backbone: keras.Model, model_config) -> None:
    """Load ``model_config.init`` weights (.keras / .weights.h5) into a registry-built backbone."""
    init = model_config.init
    if init and not init.endswith(".tflite"):
        from lrfr_tf.train.defaults import resolve_path

        load_pretrained(backbone, resolve_path(init))


def create_head(model_config, num_classes: int, embedding_dim: int):
    """``model_config``: head (registry name), head_kwargs; built on [1, embedding_dim], float32 policy."""
    from lrfr_tf.models.model_registry import create_head as create

    import_components()
    kwargs = model_config.head_kwargs.to_dict()
    kwargs.setdefault("dtype", "float32")  # logits and margins in float32 under mixed precision
    if int(num_classes) < 2:
        raise ValueError(f"the training data has {num_classes} identity; a classification head "
                         f"({model_config.head!r}) needs at least 2 (its loss would be 0 and nothing would be learned)")
    try:
        head = create(model_config.head, num_classes=int(num_classes), **kwargs)
    except ValueError as e:
        raise ValueError(f"config model.head / model.head_kwargs: {e}") from None
    head(tf.zeros([1, embedding_dim]), tf.zeros([1], tf.int32), training=False)
    return head


def create_loss(name: str, **kwargs):
    from lrfr_tf.losses.loss_registry import create_loss as create

    import_components()
    return create(name, **kwargs)


def per_example(loss, y_true, y_pred) -> tf.Tensor:
    """Per-example values [B] of a Keras ``Loss`` (the engine averages over the global batch)."""
    return tf.cast(loss.call(y_true, y_pred), tf.float32)


def flip_augment(features: Features, seed: tf.Tensor, enabled: bool = True) -> Features:
    """``features["image"]`` flipped with probability 0.5 by the degradation op ``flip`` (the geometric
    augmentation of every recipe)."""
    if not enabled:
        return features
    from lrfr_tf.data.degrade import RandomFlip

    return {**features, "image": RandomFlip(0.5)(features["image"], seed)}
