"""Distribution: MirroredStrategy on two logical CPUs equals one replica on the same global batch;
a run killed with SIGKILL resumes exactly; MultiWorkerMirroredStrategy with two local workers."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, HERE, os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.update(extra)
    return env


def _run(code, timeout=600, **env):
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(**env), capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout


TWO_REPLICAS = r'''
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from lrfr_tf.train.engine import Trainer
from lrfr_tf.train.method import METHODS
from lrfr_tf.train.methods.classifier import Classifier
from lrfr_tf.train import strategy as S
from train_fixtures import tiny_config, weights_of

@METHODS.register("classifier_with_batch_term")
class WithBatchTerm(Classifier):
    """Adds a scalar (batch-statistic) term: mean squared embedding, averaged over replicas."""
    TERMS = ("ce", "energy")
    def loss_terms(self, models, batch, trainable, needed):
        terms = super().loss_terms(models, batch, trainable, needed)
        emb = models["backbone"](models["backbone"].preprocessing.normalize(batch["image"]), training=True)
        terms["energy"] = tf.reduce_mean(tf.square(emb))
        return terms

out = {}
for precision in ("float32", "mixed_float16"):
    runs = {}
    for name in ("default", "mirrored"):
        config = tiny_config(steps=2, method="classifier_with_batch_term")
        config.stages.train.updates.main.losses = {"ce": 1.0, "energy": 0.1}
        config.precision = precision
        trainer = Trainer(config, f"{sys.argv[1]}/{precision}_{name}", strategy=S.create_strategy(name))
        init = weights_of(trainer)
        summary = trainer.run()
        runs[name] = (trainer.replicas, weights_of(trainer), summary["first_loss"], init)
    (r1, w1, l1, i1), (r2, w2, l2, i2) = runs["default"], runs["mirrored"]
    diff = max(float(np.max(np.abs(w1[k] - w2[k]))) for k in w1)
    moved = max(float(np.max(np.abs(w1[k] - i1[k]))) for k in w1)
    same_init = all(np.array_equal(i1[k], i2[k]) for k in i1)
    out[precision] = {"replicas": [r1, r2], "max_weight_diff": diff, "moved": moved, "same_init": same_init,
                      "loss_default": l1, "loss_mirrored": l2}
print("RESULT" + json.dumps(out))
'''


def test_mirrored_two_replicas_match_one_replica(tmp_path):
    out = _run(TWO_REPLICAS.replace("sys.argv[1]", repr(str(tmp_path))))
    result = json.loads(out.split("RESULT", 1)[1])
    for precision, tol in (("float32", 1e-5), ("mixed_float16", 1e-3)):
        r = result[precision]
        assert r["replicas"] == [1, 2] and r["same_init"]
        assert r["moved"] > 10 * tol, (precision, r)  # training moved the weights far beyond the tolerance
        assert r["max_weight_diff"] < tol, (precision, r)
        for k, v in r["loss_default"].items():  # globally averaged loss terms agree
            assert abs(v - r["loss_mirrored"][k]) < 10 * tol * max(1.0, abs(v)), (precision, k, r)


def _checkpoint_values(directory):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(directory))
    names = [n for n in reader.get_variable_to_shape_map() if n.startswith("models/") and "OPTIMIZER_SLOT" not in n]
    return {n: reader.get_tensor(n) for n in names}


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_is_exact(tmp_path):
    from lrfr_tf.train.engine import Trainer
    from train_fixtures import tiny_config

    straight = tmp_path / "straight"
    Trainer(tiny_config(steps=12), str(straight)).run()
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "lrfr_tf.train", f"--recipe={HERE}/tiny_recipe.py", f"--workdir={killed}",
           "--config.log.progress=false"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    ckpt_dir = killed / "checkpoints"
    while time.time() < deadline:
        latest = tf.train.latest_checkpoint(str(ckpt_dir)) if ckpt_dir.exists() else None
        if latest and int(latest.rsplit("-", 1)[1]) >= 4:
            break
        assert proc.poll() is None, "training finished before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The kill can land after ckpt-N is written and verified but before the state file names it; resume
    # rightly starts from the newest intact checkpoint on disk, so that is the step the kill left behind.
    from lrfr_tf.train.checkpoints import checkpoint_steps, verify

    killed_at = next(s for s, prefix in checkpoint_steps(str(ckpt_dir)) if verify(prefix) is None)
    assert 4 <= killed_at < 12
    subprocess.run(cmd, cwd=REPO, env=_env(), check=True, capture_output=True, timeout=600)
    resumed = json.loads((killed / "results.json").read_text())
    assert resumed["step"] == 12 and resumed["steps_this_run"] == 12 - killed_at
    a, b = _checkpoint_values(str(straight / "checkpoints")), _checkpoint_values(str(ckpt_dir))
    assert a.keys() == b.keys() and len(a) > 4
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


MULTI_WORKER = r'''
import json, os, sys
import tensorflow as tf
from lrfr_tf.train.engine import Trainer
from lrfr_tf.train import strategy as S
from train_fixtures import tiny_config, weights_of
import numpy as np
strategy = S.create_strategy("auto")
assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), type(strategy)
trainer = Trainer(tiny_config(steps=3), sys.argv[1], strategy=strategy)
summary = trainer.run()
np.savez(sys.argv[2], **{k.replace("/", "|"): v for k, v in weights_of(trainer).items()})
print("RESULT" + json.dumps({"chief": trainer.chief, "replicas": trainer.replicas, "step": summary["step"]}))
'''


@pytest.mark.slow
def test_multi_worker_mirrored_two_local_workers(tmp_path):
    from lrfr_tf.train.engine import Trainer
    from train_fixtures import tiny_config, weights_of

    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(2):
        env = _env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
        code = MULTI_WORKER.replace("sys.argv[1]", repr(str(tmp_path / "run"))).replace("sys.argv[2]", repr(str(tmp_path / f"w{i}.npz")))
        procs.append(subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-5000:]
        outs.append(json.loads(out.split("RESULT", 1)[1]))
    assert [o["chief"] for o in outs] == [True, False]
    assert all(o["replicas"] == 2 and o["step"] == 3 for o in outs)
    assert (tmp_path / "run" / "checkpoints").exists() and not any(
        n.startswith(".worker") for n in os.listdir(tmp_path / "run"))
    single = Trainer(tiny_config(steps=3), str(tmp_path / "single"))
    single.run()
    expected = weights_of(single)
    for i in range(2):
        got = dict(np.load(tmp_path / f"w{i}.npz"))
        for k, v in expected.items():
            np.testing.assert_allclose(got[k.replace("/", "|")], v, atol=1e-5, err_msg=k)
