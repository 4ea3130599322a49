"""Engine: a run writes checkpoints and outputs, resume is exact, NaN stops, mixed precision runs."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.train.engine import NonFiniteLossError, Trainer
from lrfr_tf.train.method import METHODS
from lrfr_tf.train.methods.classifier import Classifier

from train_fixtures import assert_same_weights, first_batch, tiny_config, weights_of


def test_run_writes_checkpoints_config_and_export(tmp_path):
    trainer = Trainer(tiny_config(steps=3), str(tmp_path))
    summary = trainer.run()
    assert summary["step"] == 3 and summary["steps_this_run"] == 3
    assert all(np.isfinite(v) for v in summary["last_loss"].values())
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-3")
    assert json.loads((tmp_path / "config.json").read_text())["stages"]["train"]["steps"] == 3
    assert (tmp_path / "export" / "embedder.keras").exists()
    assert json.loads((tmp_path / "results.json").read_text())["step"] == 3
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path / "tensorboard"))


def test_resume_is_exact(tmp_path):
    """Run 4 steps straight vs 2 steps, a fresh process state, then 2 more: same batch, same weights."""
    straight = Trainer(tiny_config(steps=4), str(tmp_path / "a"))
    straight.run()
    interrupted = Trainer(tiny_config(steps=4), str(tmp_path / "b"))
    interrupted.run(stop_at=2)
    assert int(interrupted.step.numpy()) == 2
    resumed = Trainer(tiny_config(steps=4), str(tmp_path / "b"))
    assert resumed.restore() == 2
    # The batch a resumed run sees next is batch 2 of the uninterrupted stream.
    stage = resumed.stages[0]
    stream = iter(straight.dataset(stage, 0))
    for _ in range(2):
        next(stream)
    expected = {k: v.numpy() for k, v in next(stream).items()}
    got = first_batch(resumed.dataset(stage, 2))
    for k in expected:
        np.testing.assert_array_equal(got[k], expected[k], err_msg=k)
    resumed.run()
    assert int(resumed.step.numpy()) == 4
    assert_same_weights(weights_of(straight), weights_of(resumed))
    for a, b in zip(straight.stages[0].updates[0].optimizer.variables, resumed.stages[0].updates[0].optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_resume_with_other_seed_is_refused(tmp_path):
    Trainer(tiny_config(steps=2), str(tmp_path)).run(stop_at=1)
    other = tiny_config(steps=2)
    other.seed = 7
    with pytest.raises(ValueError, match="seed"):
        Trainer(other, str(tmp_path)).restore()


@METHODS.register("nan_after_2")
class NaNAfterTwoSteps(Classifier):
    """The classifier whose loss becomes NaN from the third step on (step counter in the batch index)."""

    TERMS = ("ce", "broken")

    def loss_terms(self, models, batch, trainable, needed):
        terms = super().loss_terms(models, batch, trainable, needed)
        self.calls = getattr(self, "calls", 0)
        terms["broken"] = tf.zeros_like(terms["ce"]) + self._poison
        return terms

    def on_step(self, models, step):
        self._poison.assign(float("nan") if step >= 2 else 0.0)

    def build_models(self):
        self._poison = tf.Variable(0.0, trainable=False)
        return super().build_models()


def test_nan_loss_stops_with_step_term_and_keeps_last_checkpoint(tmp_path):
    config = tiny_config(steps=5, method="nan_after_2")
    config.stages.train.updates.main.losses = {"ce": 1.0, "broken": 1.0}
    trainer = Trainer(config, str(tmp_path))
    with pytest.raises(NonFiniteLossError, match=r"step 2 .*main/broken=nan.*ckpt-2"):
        trainer.run()
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-2")


def test_unknown_loss_term_and_model_are_errors(tmp_path):
    config = tiny_config()
    config.stages.train.updates.main.losses = {"ce": 1.0, "pixel": 1.0}
    with pytest.raises(ValueError, match="pixel"):
        Trainer(config, str(tmp_path / "a"))
    config = tiny_config()
    config.stages.train.updates.main.train = ["backbone", "sr_net"]
    with pytest.raises(ValueError, match="sr_net"):
        Trainer(config, str(tmp_path / "b"))


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_runs_with_loss_scaling(tmp_path, precision):
    import keras

    config = tiny_config(steps=2)
    config.precision = precision
    trainer = Trainer(config, str(tmp_path))
    opt = trainer.stages[0].updates[0].optimizer
    assert isinstance(opt, keras.optimizers.LossScaleOptimizer) == (precision == "mixed_float16")
    assert trainer.models["backbone"].conv1.compute_dtype == precision.split("_")[1]
    summary = trainer.run()
    assert all(np.isfinite(v) for v in summary["last_loss"].values())
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after building


def test_two_stages_train_only_their_models(tmp_path):
    from lrfr_tf.train import defaults as D

    config = tiny_config(steps=2)
    config.stages.head_only = D.stage(2, main=D.update(["head"], {"ce": 1.0}, D.optimizer("adamw", lr=1e-3, weight_decay=1e-4)))
    trainer = Trainer(config, str(tmp_path))
    trainer.run(stop_at=2)
    before = weights_of(trainer)
    trainer.run()
    after = weights_of(trainer)
    assert int(trainer.step.numpy()) == 4
    changed = {k for k in before if not np.array_equal(before[k], after[k])}
    assert changed and all(k.startswith("head/") for k in changed), changed


def test_resume_with_another_training_config_is_refused_but_extending_steps_is_not(tmp_path):
    """A workdir's checkpoints belong to its config.json: another loss weight or optimizer is refused with the
    changed keys named; changing only where/how often it logs or evaluates, or the stage length, resumes."""
    Trainer(tiny_config(steps=2), str(tmp_path)).run(stop_at=1)
    other = tiny_config(steps=2)
    other.stages.train.updates.main.optimizer.lr = 0.5 * float(other.stages.train.updates.main.optimizer.lr)
    with pytest.raises(ValueError, match=r"another config \(stages\.train\.updates\.main\.optimizer\.lr: .* -> .*\)"):
        Trainer(other, str(tmp_path)).restore()
    longer = tiny_config(steps=3)
    longer.log.every = 7
    assert Trainer(longer, str(tmp_path)).restore() == 1
    other.checkpoint.restart = True  # the documented way to start over in the same workdir
    assert Trainer(other, str(tmp_path)).restore() == 0


def test_resume_changes_names_every_changed_key():
    from lrfr_tf.train.engine import resume_changes

    saved = {"model": {"head": "arcface", "head_kwargs": {"margin": 0.5}}, "eval": {"every": 5},
             "stages": {"train": {"steps": 10, "updates": {"main": {"losses": {"ce": 1.0}}}}}, "data": {"train": "a"}}
    current = {"model": {"head": "arcface", "head_kwargs": {"margin": 0.4}}, "eval": {"every": 9},
               "stages": {"train": {"steps": 20, "updates": {"main": {"losses": {"ce": 1.0, "d": 2.0}}}}},
               "data": {"train": "b"}}
    assert resume_changes(saved, current) == ["model.head_kwargs.margin: 0.5 -> 0.4",
                                              "stages.train.updates.main.losses.d: '(absent)' -> 2.0"]
    assert resume_changes(saved, saved) == []
