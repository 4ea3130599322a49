"""A training process that kills itself (SIGKILL) at a chosen point: the fault-injection driver of test_faults.py.

    python fault_child.py WORKDIR POINT AT [--replicas=N] [--lr=X] [--steps=N]

POINT: none | step (before step AT runs) | first_step (the first step this process runs, i.e. the first
after a resume) | torn_write (ckpt-AT written, its .data then cut in half, as a crash mid-write would) |
before_state (ckpt-AT written and verified, the state file not yet updated) | rotation (while older
checkpoints are being deleted after ckpt-AT) | export (while writing the final embedder).
"""

import argparse
import glob
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

parser = argparse.ArgumentParser()
parser.add_argument("workdir")
parser.add_argument("point")
parser.add_argument("at", type=int)
parser.add_argument("--replicas", type=int, default=1)
parser.add_argument("--steps", type=int, default=12)
parser.add_argument("--lr", type=float, default=0.05)
args = parser.parse_args()

import tensorflow as tf  # noqa: E402

if args.replicas > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.replicas)

from lrfr_tf.train import checkpoints, engine  # noqa: E402
from train_fixtures import tiny_config  # noqa: E402


def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


config = tiny_config(steps=args.steps, checkpoint__keep=3)
config.stages.train.updates.main.optimizer.lr = args.lr
if args.replicas > 1:
    config.strategy = "mirrored"
trainer = engine.Trainer(config, args.workdir)
point, at = args.point, args.at

if point in ("step", "first_step"):
    on_step = trainer.method.on_step

    def killing_on_step(models, step):
        if point == "first_step" or step == at:
            die()
        return on_step(models, step)

    trainer.method.on_step = killing_on_step
elif point == "torn_write":
    write = tf.train.Checkpoint.write

    def torn(self, prefix, *a, **kw):
        path = write(self, prefix, *a, **kw)
        if prefix.endswith(f"ckpt-{at}"):
            for data in glob.glob(glob.escape(path) + ".data-*"):
                with open(data, "r+b") as f:
                    f.truncate(os.path.getsize(data) // 2)
            die()
        return path

    tf.train.Checkpoint.write = torn
elif point == "before_state":
    write_state = checkpoints.CheckpointStore._write_state

    def killed_state(self):
        if self.latest.endswith(f"ckpt-{at}"):
            die()
        return write_state(self)

    checkpoints.CheckpointStore._write_state = killed_state
elif point == "rotation":
    remove = os.remove

    def killing_remove(path):
        remove(path)
        if "ckpt-" in path and trainer.store.latest.endswith(f"ckpt-{at}"):
            die()  # after the first file of a rotation is gone

    checkpoints.os.remove = killing_remove
elif point == "export":
    export = engine.Trainer.export

    def killed_export(self, directory, info):
        if directory.endswith("export"):  # a half-written temporary file, as a kill mid-save leaves
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, "embedder.keras.tmp.keras"), "wb") as f:
                f.write(b"PK\x03\x04 partial")
            die()
        return export(self, directory, info)

    engine.Trainer.export = killed_export
elif point != "none":
    raise SystemExit(f"unknown point {point!r}")

summary = trainer.run()
print("DONE", summary["step"], flush=True)
