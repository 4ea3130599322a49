"""The oneDNN guard: strided 1x1 convs run as slice + stride-1 conv (same function, same gradient), and the
graph check finds the crash-prone patterns on any machine (it never runs them)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf import platform_checks
from lrfr_tf.models.layers import ConvBNAct


def _trace_gradient(model, shape):
    @tf.function
    def gradient(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x, training=True))
        return tape.gradient(loss, model.trainable_variables)

    return gradient.get_concrete_function(tf.TensorSpec(shape, tf.float32))


@pytest.mark.parametrize("size,padding", [(64, "symmetric"), (15, "same"), (15, "valid"), (8, "same")])
def test_strided_1x1_conv_is_slice_then_conv(size, padding):
    """Forward equals x[:, ::2, ::2] @ W (NumPy); the kernel gradient equals the NumPy formula."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, size, size, 8)).astype(np.float32)
    layer = ConvBNAct(12, 1, strides=2, padding=padding, batch_norm=False)
    y = layer(x).numpy()
    kernel, bias = (w.numpy() for w in layer.conv.weights)
    sub = x[:, ::2, ::2, :]
    np.testing.assert_allclose(y, np.einsum("bhwc,cd->bhwd", sub, kernel[0, 0]) + bias, rtol=1e-5, atol=1e-5)
    assert y.shape[1] == -(-size // 2)  # ceil(size / 2), as TF's strided conv
    dy = rng.normal(size=y.shape).astype(np.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * dy)
    grad = tape.gradient(loss, layer.conv.kernel)
    np.testing.assert_allclose(grad.numpy()[0, 0], np.einsum("bhwc,bhwd->cd", sub, dy), rtol=1e-4, atol=1e-4)
    # A Keras strided conv with the same weights gives the same output (its forward pass is safe to run).
    plain = keras.layers.Conv2D(12, 1, strides=2, padding="same" if padding == "same" else "valid")
    plain.build(x.shape)
    plain.set_weights([kernel, bias])
    np.testing.assert_allclose(plain(x).numpy(), y, rtol=1e-5, atol=1e-5)
    assert ConvBNAct.from_config(layer.get_config()).strides == 2  # the config keeps the layer's stride


def test_check_finds_a_strided_1x1_conv_gradient_with_few_channels():
    inp = keras.Input((64, 64, 8))
    crash_prone = keras.Model(inp, keras.layers.Conv2D(8, 1, strides=2)(inp))
    hazards = platform_checks.onednn_hazards(_trace_gradient(crash_prone, [4, 64, 64, 8]))
    assert len(hazards) == 1 and "1x1 kernel" in hazards[0] and "8 input channels" in hazards[0]
    inp = keras.Input((64, 64, 16))  # 16 input channels: measured safe
    wide = keras.Model(inp, keras.layers.Conv2D(8, 1, strides=2)(inp))
    assert platform_checks.onednn_hazards(_trace_gradient(wide, [4, 64, 64, 16])) == []
    inp = keras.Input((64, 64, 8))
    ours = keras.Model(inp, ConvBNAct(8, 1, strides=2)(inp))
    assert platform_checks.onednn_hazards(_trace_gradient(ours, [4, 64, 64, 8])) == []


def test_check_finds_a_rank4_matmul():
    @tf.function
    def rank4(a, b):
        return tf.linalg.matmul(a, b)

    found = platform_checks.onednn_hazards(rank4.get_concrete_function(tf.TensorSpec([13, 1, 3, 4]), tf.TensorSpec([4, 16])))
    assert len(found) == 1 and "117700" in found[0]
    assert platform_checks.onednn_hazards(rank4.get_concrete_function(tf.TensorSpec([39, 4]), tf.TensorSpec([4, 16]))) == []


def test_check_graph_raises_only_where_it_can_crash(monkeypatch):
    inp = keras.Input((32, 32, 4))
    graph = _trace_gradient(keras.Model(inp, keras.layers.Conv2D(4, 1, strides=2)(inp)), [2, 32, 32, 4])
    avx512 = frozenset({"avx2", "avx512f"})
    monkeypatch.setattr(platform_checks.platform, "machine", lambda: "x86_64")  # the same answer on any host
    with pytest.raises(RuntimeError, match="TF_ENABLE_ONEDNN_OPTS=0"):
        platform_checks.check_graph(graph, "test step", environ={}, flags=avx512)
    assert platform_checks.check_graph(graph, "x", environ={"TF_ENABLE_ONEDNN_OPTS": "0"}, flags=avx512)
    assert platform_checks.check_graph(graph, "x", environ={"DNNL_MAX_CPU_ISA": "AVX2"}, flags=avx512)
    assert platform_checks.check_graph(graph, "x", environ={}, flags=frozenset({"avx2"}))
    monkeypatch.setattr(platform_checks.platform, "machine", lambda: "aarch64")
    assert platform_checks.check_graph(graph, "x", environ={}, flags=avx512)


def test_engine_stops_before_a_crash_prone_step(tmp_path, monkeypatch):
    """A user's backbone with a strided 1x1 conv on 8 channels: on a crash-prone machine the engine raises
    with the workaround before the first step runs (simulated here on any machine)."""
    import sys
    import pathlib

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "train"))
    from train_fixtures import tiny_config
    from lrfr_tf.models.model_registry import BACKBONES
    from lrfr_tf.preprocessing import ARCFACE
    from lrfr_tf.train.engine import Trainer

    @keras.saving.register_keras_serializable(package="lrfr_tf_tests")
    class StridedShortcut(keras.Model):
        def __init__(self, embedding_dim=16, **kwargs):
            super().__init__(**kwargs)
            self.embedding_dim = embedding_dim
            self.preprocessing = ARCFACE
            self.stem = keras.layers.Conv2D(8, 3, strides=2, padding="same")
            self.shortcut = keras.layers.Conv2D(16, 1, strides=2)
            self.fc = keras.layers.Dense(embedding_dim)

        def call(self, x, training=None):
            return self.fc(keras.ops.mean(self.shortcut(self.stem(x)), axis=(1, 2)))

    monkeypatch.setitem(BACKBONES._entries, "strided_shortcut_test", StridedShortcut)  # only for this test
    config = tiny_config(steps=2)
    config.model.backbone = "strided_shortcut_test"
    monkeypatch.setattr(platform_checks, "crash_prone", lambda environ=None, flags=None: True)
    trainer = Trainer(config, str(tmp_path))
    with pytest.raises(RuntimeError, match="TF_ENABLE_ONEDNN_OPTS=0"):
        trainer.run()
    assert int(trainer.step.numpy()) == 0
