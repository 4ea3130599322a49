"""The composite embedders of lrfr_tf.models (SR net + recognizer; student + teacher assistant): ``.keras`` files
written before they moved here, when they lived in lrfr_tf.train.embedders and lrfr_tf.losses.distillation,
still load (by their registered names) and compute the same embeddings."""

import json
import zipfile

import keras
import numpy as np
import tensorflow as tf

from lrfr_tf.models import create_backbone, create_sr_net
from lrfr_tf.models.residual_assisted import ResidualAssistedStudent
from lrfr_tf.models.super_resolved import SuperResolvedEmbedder

#: Where each class lived, and its registered name, in files written before the move.
BEFORE_THE_MOVE = {"SuperResolvedEmbedder": ("lrfr_tf.train.embedders", "lrfr_tf>SuperResolvedEmbedder"),
                   "ResidualAssistedStudent": ("lrfr_tf.losses.distillation", "lrfr_tf>ResidualAssistedStudent")}


def tiny_composite():
    """SRnet (28 -> 112 px) then a student + assistant pair of narrow IResNets with a 24-d adapter."""
    kw = dict(units=(1, 1, 1, 1), channels=(8, 8, 16, 16), stem_channels=8, embedding_dim=16)
    recognizer = ResidualAssistedStudent(create_backbone("iresnet18", **kw), create_backbone("iresnet18", **kw),
                                         teacher_embedding_dim=24)
    model = SuperResolvedEmbedder(create_sr_net("srnet"), recognizer, (28, 28))
    model(tf.zeros([1, 112, 112, 3]))
    return model


def as_written_before_the_move(config, moved):
    """The config.json of a .keras file with each moved class at its old module and registered name."""
    if isinstance(config, list):
        return [as_written_before_the_move(c, moved) for c in config]
    if not isinstance(config, dict):
        return config
    config = {k: as_written_before_the_move(v, moved) for k, v in config.items()}
    if config.get("class_name") in BEFORE_THE_MOVE:
        config["module"], config["registered_name"] = BEFORE_THE_MOVE[config["class_name"]]
        moved.append(config["class_name"])
    return config


def test_files_written_before_the_move_still_load(tmp_path):
    model = tiny_composite()
    model.save(tmp_path / "now.keras")
    moved = []
    with zipfile.ZipFile(tmp_path / "now.keras") as now, zipfile.ZipFile(tmp_path / "before.keras", "w") as before:
        for item in now.infolist():
            data = now.read(item)
            if item.filename == "config.json":
                data = json.dumps(as_written_before_the_move(json.loads(data), moved)).encode()
            before.writestr(item, data)
    assert sorted(moved) == ["ResidualAssistedStudent", "SuperResolvedEmbedder"]
    loaded = keras.saving.load_model(tmp_path / "before.keras", compile=False)
    assert type(loaded) is SuperResolvedEmbedder and type(loaded.recognizer) is ResidualAssistedStudent
    assert loaded.sr_input_size == [28, 28] and loaded.embedding_dim == 24
    x = np.random.default_rng(0).normal(size=(2, 112, 112, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), model(x))
