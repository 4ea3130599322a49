"""The training loop: stages of (optionally alternating) updates, distributed, checkpointed, observed.

Config (see ``defaults.base_config``):

* ``stages.<name>``: ``steps`` and ``updates.<name>`` each with ``train`` (model names updated,
  all others frozen), ``losses`` (term -> weight) and ``optimizer`` (name, lr, schedule ...).
  Updates of a stage run in order every step (e.g. discriminator, then generator).
* ``strategy``, ``precision`` (float32 | mixed_float16 | mixed_bfloat16), ``xla``.
* ``checkpoint.every`` / ``checkpoint.keep``, ``log.every`` / ``log.images_every``, ``eval.*``: with
  ``eval.enabled``, an evaluation at every multiple of ``eval.every`` (0: none) and, with ``eval.at_end``,
  at the last step (once, if that is also a multiple).

Resume: the checkpoint holds every model and optimizer, the global step and the stage index;
the data stream is a pure function of (seed, stage, step) (``make_dataset(start_step=...)``),
so a run killed at any moment continues from its last checkpoint with the same next batch.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf

from lrfr_tf.train import methods as _methods  # noqa: F401  (registers the methods)
from lrfr_tf.train import checkpoints, optim, strategy as strategy_lib, summaries
from lrfr_tf.train.defaults import resolve_path
from lrfr_tf.train.config import Config
from lrfr_tf.train.method import METHODS, Method, check_term

logger = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN/inf; the message names the step, term and last good checkpoint."""


@dataclass
class Update:
    name: str
    train: List[str]
    losses: Dict[str, float]
    optimizer: keras.optimizers.Optimizer


@dataclass
class Stage:
    index: int
    name: str
    start: int  # global step at which the stage begins
    steps: int
    updates: List[Update]

    @property
    def end(self) -> int:
        return self.start + self.steps


def open_source(path: str, kind: str = "auto", identities: str = "all"):
    """An identity folder (``root/<identity>/*.jpg``) or TFRecord files (a glob) via the readers; ``identities``
    ("all", "train", "holdout": ``lrfr_tf.data.splits``) selects a folder's identities."""
    if not path:
        raise ValueError("config.data.train is empty: point it at an identity folder or TFRecord files")
    if kind == "auto":
        if os.path.isdir(path):  # a packed folder (python -m lrfr_tf.data.pack) holds dataset.json
            kind = "tfrecord" if os.path.isfile(os.path.join(path, "dataset.json")) else "folder"
        elif not any(c in path for c in "*?[") and not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such directory or file (config data.train: an identity folder, "
                                    f"a packed TFRecord folder or a glob of TFRecord shards)")
        else:
            kind = "tfrecord"
    if kind == "folder":
        from lrfr_tf.data.folders import IdentityFolder

        return IdentityFolder(path, identities=identities)
    if identities != "all":
        raise ValueError(f"config data.identities={identities!r} selects identity folders; {path} is a TFRecord "
                         "dataset: pack only the identities you want (python -m lrfr_tf.data.pack)")
    if kind == "tfrecord":
        from lrfr_tf.data.tfrecord import TFRecordSource

        return TFRecordSource(path)
    raise ValueError(f"unknown data.format {kind!r}; use auto, folder or tfrecord")


#: Config keys a resumed run may change: where it reads, logs, evaluates and checkpoints, and how long each stage
#: lasts (``stages.<name>.steps``: extending a run). Any other change (a loss weight, the optimizer, the model, the
#: method's settings, the batch) means the checkpoints belong to another run.
RESUMABLE = ("name", "scale", "scales", "eval", "log", "checkpoint", "strategy", "xla", "data.train", "data.format",
             "data.verify", "data.decoded_cache_mb")


def resume_changes(saved: dict, current: dict) -> List[str]:
    """``key: saved -> current`` for every config value that differs between a workdir's config.json and the
    resuming run's, except the ``RESUMABLE`` keys and groups (a key present in one only counts as a change)."""
    a, b = Config(saved).flatten(), Config(current).flatten()

    def resumable(key: str) -> bool:
        parts = key.split(".")
        return (any(key == r or key.startswith(r + ".") for r in RESUMABLE)
                or (len(parts) == 3 and parts[0] == "stages" and parts[2] == "steps"))

    missing = "(absent)"
    return [f"{k}: {a.get(k, missing)!r} -> {b.get(k, missing)!r}" for k in sorted(set(a) | set(b))
            if not resumable(k) and a.get(k, missing) != b.get(k, missing)]


class Trainer:
    """Builds everything from a resolved config and runs (or resumes) training in ``workdir``."""

    def __init__(self, config: Config, workdir: str, source=None, strategy: Optional[tf.distribute.Strategy] = None):
        self.config = config
        self.workdir = os.path.abspath(workdir)
        self.strategy = strategy or strategy_lib.create_strategy(config.strategy)
        self.chief = strategy_lib.is_chief(self.strategy)
        self.replicas = self.strategy.num_replicas_in_sync
        self.global_batch = int(config.data.batch_size)
        if self.global_batch <= 0:
            raise ValueError(f"data.batch_size must be > 0, got {self.global_batch}")
        if int(config.checkpoint.every) < 0:
            raise ValueError(f"checkpoint.every must be >= 0 (0: only at the end of each stage), got {config.checkpoint.every}")
        if int(config.checkpoint.keep) < 1:
            raise ValueError(f"checkpoint.keep must be >= 1, got {config.checkpoint.keep}")
        if self.global_batch % self.replicas:
            raise ValueError(f"data.batch_size={self.global_batch} is not divisible by the {self.replicas} replicas")
        self.precision = config.precision
        self.source = source if source is not None else open_source(resolve_path(config.data.train), config.data.format,
                                                                           config.data.identities)
        method_cls = METHODS.get(config.method)
        self.method: Method = method_cls(config, num_classes=self.source.num_classes)
        os.makedirs(self.workdir, exist_ok=True)
        keras.utils.set_random_seed(int(config.seed))  # reproducible initial weights
        with self.strategy.scope(), strategy_lib.precision_policy(self.precision):
            self.models: Dict[str, keras.Model] = self.method.build_models()
            self.stages = self._build_stages()
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.stage_index = tf.Variable(0, dtype=tf.int64, trainable=False, name="stage_index")
            self.seed = tf.Variable(int(config.seed), dtype=tf.int64, trainable=False, name="seed")
        self.checkpoint = tf.train.Checkpoint(
            step=self.step, stage=self.stage_index, seed=self.seed,
            models=tf.train.Checkpoint(**self.models),
            optimizers=tf.train.Checkpoint(**{f"{s.name}__{u.name}": u.optimizer for s in self.stages for u in s.updates}),
        )
        ckpt_dir = self.checkpoint_dir = os.path.join(self.workdir, "checkpoints")  # the chief's
        if not self.chief:  # non-chief workers must write too (collectives), to a scratch dir
            ckpt_dir = os.path.join(self.workdir, f".worker{strategy_lib.worker_id(self.strategy)}_checkpoints")
        self.store = checkpoints.CheckpointStore(self.checkpoint, ckpt_dir, keep=int(config.checkpoint.keep),
                                                 read_directory=self.checkpoint_dir, owner=self.chief)
        self.writer = tf.summary.create_noop_writer()  # the chief's file writer is opened by run()
        self.history: Dict[str, List] = {"step": [], "loss": []}
        self.weight_norm_warnings: List[Dict] = []
        self.eval_history: List[Dict] = []
        self.best_metric = -math.inf
        self._step_fns: Dict[int, tf.types.experimental.GenericFunction] = {}

    # Building ---------------------------------------------------------------------------------------
    def _build_stages(self) -> List[Stage]:
        stages, start = [], 0
        if not len(self.config.stages):
            raise ValueError("config.stages is empty")
        for index, (name, sc) in enumerate(self.config.stages.items()):
            steps = int(sc.steps)
            if steps <= 0:
                raise ValueError(f"stage {name!r}: steps must be > 0, got {steps}")
            updates = []
            for uname, uc in sc.updates.items():
                unknown = [m for m in uc.train if m not in self.models]
                if unknown or not uc.train:
                    raise ValueError(f"stage {name!r} update {uname!r}: train={list(uc.train)} must name models of "
                                     f"{sorted(self.models)}")
                losses = {k: float(v) for k, v in uc.losses.items() if float(v) != 0.0}
                bad = [k for k in losses if k not in self.method.TERMS]
                if bad or not losses:
                    raise ValueError(f"stage {name!r} update {uname!r}: losses {bad or '(none)'} are not terms of "
                                     f"method {self.config.method!r}: {list(self.method.TERMS)}")
                opt = optim.create_optimizer(uc.optimizer, steps, self.precision, name=f"{name}_{uname}")
                opt.build(self._variables(uc.train))
                updates.append(Update(uname, list(uc.train), losses, opt))
            stages.append(Stage(index, name, start, steps, updates))
            start += steps
        return stages

    def _variables(self, names) -> List[tf.Variable]:
        seen, out = set(), []
        for n in names:
            for v in self.models[n].trainable_variables:
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
        return out

    @property
    def total_steps(self) -> int:
        return self.stages[-1].end

    def stage_at(self, step: int) -> Stage:
        for stage in self.stages:
            if step < stage.end:
                return stage
        return self.stages[-1]

    # Data -------------------------------------------------------------------------------------------
    def stage_seed(self, stage: Stage) -> int:
        return int(self.config.seed) * 1009 + stage.index

    def dataset(self, stage: Stage, start_step: int) -> tf.data.Dataset:
        """The global-batch stream of ``stage`` from its ``start_step`` (deterministic)."""
        from lrfr_tf.data.pipeline import make_dataset

        data = self.config.data
        ds = make_dataset(self.source, self.global_batch, seed=self.stage_seed(stage), map_fn=self.method.map_fn(),
                          batch_map_fn=self.method.batch_map_fn(), start_step=start_step,
                          image_size=tuple(data.image_size), verify=data.verify,
                          decoded_cache_mb=float(data.decoded_cache_mb))
        options = tf.data.Options()
        # Every worker reads the same stream and keeps its replicas' share of each global batch,
        # so the global batch is the same whatever the number of workers.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(options)

    # One step ---------------------------------------------------------------------------------------
    def _replica_step(self, stage: Stage, batch):
        logs = {}
        for update in stage.updates:
            variables = self._variables(update.train)
            with tf.GradientTape() as tape:
                terms = self.method.loss_terms(self.models, batch, trainable=update.train, needed=update.losses.keys())
                total = tf.constant(0.0, tf.float32)
                for name, weight in update.losses.items():
                    if name not in terms:
                        raise ValueError(f"method {self.config.method!r} did not produce loss term {name!r}")
                    term = check_term(name, terms[name])
                    if term.shape.rank == 1:
                        scaled = tf.nn.compute_average_loss(term, global_batch_size=self.global_batch)
                    else:
                        scaled = term / float(self.replicas)
                    logs[f"{update.name}/{name}"] = scaled
                    total += weight * scaled
                regs = [l for m in update.train for l in self.models[m].losses]
                if regs:
                    reg = tf.nn.scale_regularization_loss(tf.cast(tf.add_n(regs), tf.float32))
                    logs[f"{update.name}/regularization"] = reg
                    total += reg
                scaled_total = update.optimizer.scale_loss(total)
            grads = tape.gradient(scaled_total, variables)
            missing = [v.path for g, v in zip(grads, variables) if g is None]
            if missing:
                raise ValueError(f"stage {stage.name!r} update {update.name!r}: no gradient reaches {missing[:5]} "
                                 f"({len(missing)} variables); remove their model from 'train' or add a loss")
            update.optimizer.apply_gradients(zip(grads, variables))
            logs[f"{update.name}/total"] = total
        return logs

    def _step_fn(self, stage: Stage):
        """The compiled distributed step of ``stage`` (traced once per stage and reused)."""
        if stage.index in self._step_fns:
            return self._step_fns[stage.index]

        def step(batch):
            per_replica = self.strategy.run(lambda b: self._replica_step(stage, b), args=(batch,))
            return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in per_replica.items()}

        self._step_fns[stage.index] = tf.function(step, jit_compile=bool(self.config.xla))
        return self._step_fns[stage.index]

    def _data_error(self, stage: Stage, step: int, error: tf.errors.OpError) -> Exception:
        """A ValueError naming the files of batch ``step`` that fail to decode (recomputed from the seed)."""
        from lrfr_tf.data.pipeline import undecodable_files

        data = self.config.data
        bad = undecodable_files(self.source, self.global_batch, self.stage_seed(stage), step - stage.start,
                                image_size=tuple(data.image_size), verify=data.verify)
        first = (error.message or "").strip().splitlines()
        if not bad:
            return ValueError(f"reading batch {step} of stage {stage.name!r} failed: {first[0] if first else error}")
        listing = "; ".join(f"{path}: {reason}" for path, reason in bad[:10])
        return ValueError(f"batch {step} of stage {stage.name!r} has {len(bad)} image(s) that cannot be decoded "
                          f"(changed since the check at the start?): {listing}")

    def _check_platform(self, step_fn, batch, stage: Stage) -> None:
        """Stop with the workaround, instead of crashing natively, when the traced step has op patterns
        that crash TF 2.21's oneDNN on this AVX-512 CPU (lrfr_tf.platform_checks); else log them."""
        from lrfr_tf import platform_checks

        hazards = platform_checks.check_graph(step_fn.get_concrete_function(batch),
                                              f"the training step of stage {stage.name!r}")
        if hazards:
            logger.warning("the training step of stage %r has ops that crash TF's oneDNN on AVX-512 CPUs: %s",
                           stage.name, "; ".join(hazards))

    # Checkpoints ------------------------------------------------------------------------------------
    def restore(self) -> int:
        """Restore the latest checkpoint (if any); returns the step to continue from."""
        # Every worker restores the chief's checkpoint (non-chief workers only write scratch copies).
        # The newest intact one: damaged ones are set aside with a warning (checkpoints.CheckpointStore).
        restart = bool(self.config.checkpoint.restart)
        saved_config = os.path.join(self.workdir, "config.json")
        if (not restart and os.path.isfile(saved_config)
                and checkpoints.checkpoint_steps(self.store.read_directory, self.store.name)):
            with open(saved_config, encoding="utf-8") as f:
                changes = resume_changes(json.load(f), self.config.to_dict())
            if changes:
                shown = "; ".join(changes[:4]) + (f"; and {len(changes) - 4} more" if len(changes) > 4 else "")
                raise ValueError(f"{self.workdir}: its checkpoints were trained with another config ({shown}): resume "
                                 "with the same config, start over there with --config.checkpoint.restart=true "
                                 "(checkpoints moved aside), or use a new workdir")
        latest = self.store.restore(restart=restart)
        if latest is None:
            self.method.initialize(self.models)
            return 0
        self._report_replica_change(latest)
        if int(self.seed.numpy()) != int(self.config.seed):
            raise ValueError(f"{latest} was written with seed {int(self.seed.numpy())} but config.seed is "
                             f"{self.config.seed}: resume with the same seed or use a new workdir")
        step = int(self.step.numpy())
        best = os.path.join(self.workdir, "best", "info.json")
        if os.path.exists(best):
            with open(best) as f:
                self.best_metric = float(json.load(f).get(self.config.eval.metric, -math.inf))
        logger.info("resumed from %s at step %d (stage %s)", latest, step, self.stage_at(step).name)
        return step

    def _report_replica_change(self, latest: str) -> None:
        """Say so when a run resumes on another number of replicas (the global batch is unchanged)."""
        path = os.path.join(self.checkpoint_dir, "replicas.json")
        try:
            with open(path) as f:
                before = int(json.load(f)["replicas"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        if before != self.replicas:
            message = (f"resuming {os.path.basename(latest)}, trained on {before} replica(s), on {self.replicas} "
                       f"replica(s): the global batch ({self.global_batch}) and the data stream are unchanged, "
                       f"each replica now takes {self.global_batch // self.replicas} images per step")
            logger.warning(message)
            print(message, flush=True)

    def save(self) -> Optional[str]:
        path = self.store.save(int(self.step.numpy()))
        if self.chief:
            _write_json(os.path.join(self.checkpoint_dir, "replicas.json"), {"replicas": self.replicas})
        if not self.chief:
            tf.io.gfile.rmtree(self.store.directory)
        return path if self.chief else None

    # Evaluation and export --------------------------------------------------------------------------
    def embedding_model(self) -> keras.Model:
        return self.method.embedding_model(self.models)

    def evaluate(self, step: int) -> Dict[str, float]:
        from lrfr_tf.train import evaluation

        results = evaluation.evaluate(self.embedding_model(), self.config.eval)
        self.eval_history.append({"step": step, **results})
        with self.writer.as_default():
            for k, v in results.items():
                summaries.scalar(f"eval/{k}", v, step)
        metric = self.config.eval.metric
        if metric not in results:
            raise ValueError(f"eval.metric {metric!r} is not one of the evaluation results {sorted(results)}")
        if self.chief and results[metric] > self.best_metric:
            self.best_metric = results[metric]
            self.export(os.path.join(self.workdir, "best"), {"step": step, **results})
        return results

    def export(self, directory: str, info: Dict) -> str:
        os.makedirs(directory, exist_ok=True)
        models = {"": self.embedding_model(), **{f"_{k}": m for k, m in self.method.ablation_models(self.models).items()}}
        for suffix, model in models.items():
            path = os.path.join(directory, f"embedder{suffix}.keras")
            tmp = path + ".tmp.keras"
            model.save(tmp)
            os.replace(tmp, path)
        _write_json(os.path.join(directory, "info.json"), info)
        return os.path.join(directory, "embedder.keras")

    # The loop ---------------------------------------------------------------------------------------
    def run(self, stop_at: Optional[int] = None) -> Dict:
        """Train to the end of the last stage (resuming if a checkpoint exists); returns a summary.

        ``stop_at``: stop (with a checkpoint) once the global step reaches it, as an interrupted run.
        """
        lock = checkpoints.WorkdirLock(self.workdir).acquire() if self.chief else None
        try:
            return self._run(stop_at)
        finally:
            if lock is not None:
                lock.release()

    def _run(self, stop_at: Optional[int]) -> Dict:
        step = self.restore()
        if self.chief:
            _write_json(os.path.join(self.workdir, "config.json"), self.config.to_dict())
            self.writer = tf.summary.create_file_writer(os.path.join(self.workdir, "tensorboard"))
        t_start = time.time()
        cfg = self.config
        log_every = max(int(cfg.log.every), 1)
        ckpt_every = int(cfg.checkpoint.every)
        eval_every = int(cfg.eval.every) if cfg.eval.enabled else 0
        images_every = int(cfg.log.images_every)
        last_saved = self.store.latest
        self._norm_start, self._norm_warned = self._weight_norm(), 0.0
        end = self.total_steps if stop_at is None else min(int(stop_at), self.total_steps)
        while step < end:
            stage = self.stage_at(step)
            self.stage_index.assign(stage.index)
            logger.info("stage %d/%d %r: steps %d..%d", stage.index + 1, len(self.stages), stage.name, step, stage.end)
            iterator = iter(self.strategy.experimental_distribute_dataset(self.dataset(stage, step - stage.start)))
            step_fn = self._step_fn(stage)
            bar = _progress(self.chief and cfg.log.progress, stage, step)
            t_last, n_last = time.time(), step
            checked = False
            while step < min(stage.end, end):
                try:
                    batch = next(iterator)
                except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as e:  # decode errors name no file
                    raise self._data_error(stage, step, e) from None
                if not checked:  # before the first step can run into a native crash
                    self._check_platform(step_fn, batch, stage)
                    checked = True
                self.method.on_step(self.models, step)
                logs = {k: float(v) for k, v in step_fn(batch).items()}
                bad = {k: v for k, v in logs.items() if not math.isfinite(v)}
                if bad:
                    raise NonFiniteLossError(
                        f"non-finite loss at step {step} (stage {stage.name!r}): "
                        + ", ".join(f"{k}={v}" for k, v in bad.items())
                        + f"; last good checkpoint: {last_saved or 'none'} (not overwritten)")
                step += 1
                self.step.assign(step)
                self.history["step"].append(step)
                self.history["loss"].append(logs)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k.split("/", 1)[-1] if len(stage.updates) == 1 else k: f"{v:.4g}"
                                     for k, v in logs.items()}, refresh=False)
                if step % log_every == 0 or step == stage.end:
                    now = time.time()
                    rate = (step - n_last) * self.global_batch / max(now - t_last, 1e-9)
                    t_last, n_last = now, step
                    with self.writer.as_default():
                        for k, v in logs.items():
                            summaries.scalar(f"loss/{k}", v, step)
                        for u in stage.updates:
                            summaries.scalar(f"lr/{stage.name}/{u.name}", optim.current_lr(u.optimizer), step)
                        summaries.scalar("images_per_second", rate, step)
                    if bar is not None:
                        bar.set_postfix({**{k: f"{v:.4g}" for k, v in logs.items()}, "img/s": f"{rate:.1f}"})
                    self._check_weight_norm(step, stage)
                if images_every and self.chief and (step % images_every == 0 or step == 1):
                    local = self.strategy.experimental_local_results(batch)[0]
                    images = self.method.summary_images(self.models, local)
                    with self.writer.as_default():
                        for k, v in images.items():
                            summaries.image(k, v, step)
                if (ckpt_every and step % ckpt_every == 0) or step in (stage.end, end):
                    last_saved = self.save() or last_saved
                if eval_every and step % eval_every == 0 and self.chief:
                    self._eval_log(step, bar)
            if bar is not None:
                bar.close()
        self.writer.flush()
        summary = self._summary(step, time.time() - t_start)
        if step < self.total_steps:
            return summary
        if self.chief:
            # eval.every: at every multiple of it, the last step included; eval.at_end: also at the last step
            # when that is not such a multiple (never twice at one step)
            done = bool(self.eval_history) and self.eval_history[-1]["step"] == step
            if cfg.eval.enabled and cfg.eval.at_end and not done:
                self._eval_log(step, None)
            if self.eval_history and self.eval_history[-1]["step"] == step:
                summary["eval"] = {k: v for k, v in self.eval_history[-1].items() if k != "step"}
            exported = self.export(os.path.join(self.workdir, "export"), {"step": step})
            summary["export"] = os.path.relpath(exported, self.workdir)  # no machine path in results.json
            summary["eval_history"] = self.eval_history
            _write_json(os.path.join(self.workdir, "results.json"), summary)
        return summary

    def _weight_norm(self) -> float:
        """Global L2 norm of every trainable weight of every model."""
        squares = [tf.reduce_sum(tf.square(tf.cast(v, tf.float32))) for m in self.models.values()
                   for v in m.trainable_variables]
        return float(tf.sqrt(tf.add_n(squares))) if squares else 0.0

    def _check_weight_norm(self, step: int, stage: Stage) -> None:
        """Warn (once per 10x of growth) when the weights grow past ``log.max_weight_growth`` times their norm
        at the start of the run: a loss can stay finite while a too-high learning rate blows the weights up."""
        growth = float(self.config.log.max_weight_growth)
        if growth <= 0 or self._norm_start <= 0:
            return
        norm = self._weight_norm()
        ratio = norm / self._norm_start if math.isfinite(norm) else math.inf
        if ratio > max(growth, 10.0 * self._norm_warned):
            lrs = ", ".join(f"{u.name} lr {optim.current_lr(u.optimizer):.3g}" for u in stage.updates)
            message = (f"weight norm {norm:.3g} at step {step} is {ratio:.3g}x its value at the start of the run "
                       f"({self._norm_start:.3g}): training is diverging although the loss is finite ({lrs}); "
                       f"lower the learning rate (log.max_weight_growth={growth:g} sets this check)")
            logger.warning(message)
            self.weight_norm_warnings.append({"step": step, "norm": norm, "ratio": ratio})
            self._norm_warned = ratio

    def _eval_log(self, step: int, bar) -> Dict[str, float]:
        results = self.evaluate(step)
        text = ", ".join(f"{k}={v:.4f}" for k, v in results.items())
        (bar.write if bar is not None else print)(f"step {step}: eval {text}")
        logger.info("step %d: eval %s", step, text)
        return results

    def _summary(self, step: int, seconds: float) -> Dict:
        losses = self.history["loss"]
        return {
            "recipe": self.config.name,
            "step": step,
            "seconds": round(seconds, 2),
            "steps_this_run": len(losses),
            "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None,
            "weight_norm_warnings": self.weight_norm_warnings,
        }


def _progress(enabled: bool, stage: Stage, step: int):
    if not enabled:
        return None
    from lrfr_tf.cli_logging import progress_bar

    return progress_bar(total=stage.steps, initial=step - stage.start, desc=f"stage {stage.name}")


def _write_json(path: str, data) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, default=_json_default)
    os.replace(tmp, path)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
