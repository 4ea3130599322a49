"""Residual distillation with a teacher assistant: gradient routing, shape errors, and the
ResidualAssistedStudent module: S + A inference and block shapes on real (tiny) IResNet backbones;
training, adapters and save/load on a tiny stand-in backbone (fast in eager mode)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.losses import create_loss
from lrfr_tf.models import create_backbone
from lrfr_tf.models.residual_assisted import ResidualAssistedStudent, distillation_blocks
from lrfr_tf.preprocessing import ARCFACE
from model_checks import assert_config_roundtrip, assert_keras_save_load

# Student / assistant: tiny IResNet-18; teacher: an IResNet of the same block widths and a larger
# embedding (RIM: IResNet-50 teacher, IResNet-34 student; the depth does not change the block shapes).
SMALL = dict(channels=(4, 4, 8, 8), stem_channels=4, embedding_dim=8)
TEACHER = dict(channels=(4, 4, 8, 8), stem_channels=4, embedding_dim=16)


def images(batch=2, size=16, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)


def blocks(rng, scale=1.0):
    return [tf.constant(rng.normal(size=s).astype(np.float32) * scale) for s in [(2, 4, 4, 8), (2, 2, 2, 8), (2, 8)]]


def test_gradients_reach_only_their_own_net():
    """L_S trains the student only; L_A trains the assistant only (the residual target is stop-gradient)."""
    rng = np.random.default_rng(0)
    teacher, student, assistant = blocks(rng), blocks(rng), blocks(rng, 0.1)
    loss = create_loss("residual_distillation", block_weights=[1.0, 0.5, 2.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(teacher + student + assistant)
        out = loss(teacher, student, assistant)
    assert all(g is None for g in tape.gradient(out["student"], teacher + assistant))
    assert tape.gradient(out["student"], student[-1]) is not None
    assert all(g is None for g in tape.gradient(out["student"], student[:-1]))
    assert all(g is None for g in tape.gradient(out["assistant"], teacher + student))
    assert all(g is not None for g in tape.gradient(out["assistant"], assistant))
    expected = sum(w * np.mean((a.numpy().astype(np.float64) - (t.numpy() - s.numpy())) ** 2)
                   for w, t, s, a in zip([1.0, 0.5, 2.0], teacher, student, assistant))
    np.testing.assert_allclose(float(out["assistant"]), expected, rtol=1e-5)


def test_block_mismatch_raises():
    rng = np.random.default_rng(1)
    teacher, student = blocks(rng), blocks(rng)
    loss = create_loss("residual_distillation")
    with pytest.raises(ValueError, match="teacher has 3 blocks, student has 2"):
        loss(teacher, student[:2])
    with pytest.raises(ValueError, match="block 2 of the teacher"):
        loss(teacher, student[:2] + [tf.zeros([2, 9])])
    with pytest.raises(ValueError, match="block_weights"):
        create_loss("residual_distillation", block_weights=[1.0])(teacher, student, student)
    assert set(loss(teacher, student)) == {"student"}


@keras.saving.register_keras_serializable(package="lrfr_tf_tests")
class TinyBlockNet(keras.Model):
    """Stand-in backbone: two stride-2 conv blocks, global pooling, a linear embedding."""

    def __init__(self, embedding_dim=8, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.preprocessing = ARCFACE
        self.convs = [keras.layers.Conv2D(c, 3, strides=2, padding="same", activation="relu") for c in (4, 8)]
        self.embed = keras.layers.Dense(embedding_dim)

    def call_with_blocks(self, x, training=None):
        blocks = []
        for conv in self.convs:
            x = conv(x)
            blocks.append(x)
        return self.embed(tf.reduce_mean(x, axis=[1, 2])), blocks

    def call(self, x, training=None):
        return self.call_with_blocks(x, training)[0]

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim}


def make_student(teacher_embedding_dim=16, backbone=None):
    backbone = backbone or (lambda: TinyBlockNet(8))
    return ResidualAssistedStudent(backbone(), backbone(), teacher_embedding_dim=teacher_embedding_dim)


@pytest.fixture(scope="module")
def teacher():
    return create_backbone("iresnet18", **TEACHER)


def test_inference_is_student_plus_assistant_and_blocks_match_the_teacher(teacher):
    model = make_student(backbone=lambda: create_backbone("iresnet18", **SMALL))
    x = images()
    t_blocks = distillation_blocks(teacher, x, training=False)
    s_blocks, a_blocks = model.call_with_blocks(x, training=False)
    assert [b.shape for b in s_blocks] == [b.shape for b in t_blocks] == [b.shape for b in a_blocks]
    np.testing.assert_allclose(model(x, training=False).numpy(), (s_blocks[-1] + a_blocks[-1]).numpy(),
                               rtol=1e-5, atol=1e-6)
    assert model.embedding_dim == 16 and model.preprocessing == model.student.preprocessing
    assert len(s_blocks) == 5  # 4 stage outputs + the embedding
    losses = create_loss("residual_distillation")(t_blocks, s_blocks, a_blocks)
    assert np.isfinite(float(losses["student"])) and np.isfinite(float(losses["assistant"]))


def test_same_size_embeddings_need_no_adapters():
    model = make_student(teacher_embedding_dim=None)
    x = images()
    emb_s = model.student(x, training=False)
    emb_a = model.assistant(x, training=False)
    np.testing.assert_allclose(model(x, training=False).numpy(), (emb_s + emb_a).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="call_with_blocks"):
        ResidualAssistedStudent(model.student, keras.layers.Dense(3))


def test_a_few_training_steps_reduce_both_losses():
    teacher = TinyBlockNet(16)
    model = make_student()
    x = images(batch=4)
    t_blocks = distillation_blocks(teacher, x, training=False)
    loss = create_loss("residual_distillation")
    optimizer = keras.optimizers.Adam(1e-2)
    history = []
    for _ in range(3):
        with tf.GradientTape() as tape:
            s_blocks, a_blocks = model.call_with_blocks(x, training=False)
            out = loss(t_blocks, s_blocks, a_blocks)
            total = out["student"] + out["assistant"]
        optimizer.apply_gradients(zip(tape.gradient(total, model.trainable_weights), model.trainable_weights))
        history.append((float(out["student"]), float(out["assistant"])))
    assert history[-1][0] < history[0][0] and history[-1][1] < history[0][1]


def test_config_roundtrip_and_keras_save_load(tmp_path):
    model = make_student()
    x = images()
    model.build((None, 16, 16, 3))
    assert len(model.weights) == len(model.student.weights) + len(model.assistant.weights) + 4
    assert_config_roundtrip(model, x)
    assert_keras_save_load(model, x, tmp_path)
