"""Every recipe's embedder (SR and RIM composites included) exports from its training workdir through
``python -m lrfr_tf.export``, and the SavedModel's uint8 serving signature computes the source's embeddings.
Slow: one engine build and one export per recipe."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.export.conftest import faces

from lrfr_tf.train.recipes import recipe_names

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", recipe_names())
def test_recipe_workdir_exports_its_function(name, tmp_path):
    import tensorflow as tf

    from lrfr_tf.eval.embedders import load_embedder
    from lrfr_tf.train.engine import Trainer

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "train"))
    from test_train_recipes import smoke_config

    workdir = tmp_path / name
    trainer = Trainer(smoke_config(name), str(workdir))
    keras_path = trainer.export(str(workdir / "export"), {"step": 0})  # the engine's own export, untrained
    out = tmp_path / "exports"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-m", "lrfr_tf.export", f"--model={workdir}", f"--out={out}",
                             "--formats=saved_model", "--no_gate"], capture_output=True, text=True, timeout=1800,
                            env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    x = faces(4)
    expected = load_embedder(keras_path).embed(x)
    serving = tf.saved_model.load(str(out / name / "1")).signatures["serving_default"]
    got = serving(images=tf.constant(x))["embedding"].numpy()
    assert np.sum(expected * got, axis=1).min() >= 0.99999
