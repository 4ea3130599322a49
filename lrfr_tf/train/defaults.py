"""The engine's config keys with their defaults; every recipe starts from ``base_config``."""

from __future__ import annotations

import os
from typing import Dict, Sequence

from lrfr_tf.train.config import Config

#: Where the small-scale runs read from (relative to the repository root or the working directory).
SAMPLE_CELEBA = "lrfr_tf/data/sample/celeba"
SAMPLE_LFW = "lrfr_tf/data/sample/lfw"
SHARED_LFW = "../shared/data/lfw"


def base_config(name: str, method: str) -> Config:
    """Keys every recipe has (see engine.py for their meaning)."""
    return Config(
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
            image_size=[112, 112],
            batch_size=512,      # global batch, split across replicas
            flip=True,
            degrade="",          # degradation spec (lrfr_tf.data.degrade.parse), "" = none
            degrade_fraction=1.0,
            verify="strict",
        ),
        model=Config(init=""),   # init: .tflite / .keras / .weights.h5 to start from (fine-tuning)
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


def optimizer(name: str = "sgd", lr: float = 0.1, schedule: str = "constant", boundaries: Sequence[float] = (),
              **kwargs) -> Config:
    """An optimizer + schedule config (optim.create_optimizer)."""
    return Config(name=name, lr=lr, schedule=schedule, boundaries=list(boundaries), **kwargs)


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
                       losses: Dict[str, float] | None = None, train: str = "data/ms1mv2") -> Config:
    """One-stage backbone + margin-head training with SGD (momentum 0.9) and a step schedule."""
    config = base_config(name, method)
    config.data.train = train
    config.data.batch_size = batch_size
    config.model.backbone = backbone
    config.model.embedding_dim = 512
    config.model.backbone_kwargs = {}
    config.model.head = head
    config.model.head_kwargs = dict(head_kwargs if head_kwargs is not None else {"scale": 64.0, "margin": 0.5})
    config.stages.train = stage(steps, main=update(
        ["backbone", "head"], losses or {"ce": 1.0},
        optimizer("sgd", lr=lr, schedule="piecewise", boundaries=boundaries, momentum=0.9, weight_decay=weight_decay)))
    config.eval.every = max(steps // 10, 1)
    return config


def smoke_scale(steps: int = 4, batch_size: int = 8, **extra) -> Dict:
    """``scales.smoke`` of a one-stage recipe: the embedded CelebA sample, a narrow backbone, a few steps."""
    return merge(smoke_backbone(), {
        "data": {"train": SAMPLE_CELEBA, "batch_size": batch_size},
        "stages": {"train": {"steps": steps}},
        "checkpoint": {"every": 2},
        "log": {"every": 1},
        "eval": {"every": 0, "sizes": [8, 14]},
    }, extra)
