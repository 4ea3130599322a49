"""benchmarks/train_throughput.py: its FLOP count is the textbook count of a small network, and its op
breakdown parses the TF profiler's trace of a real step."""

import numpy as np
import pytest

from benchmarks import train_throughput


def test_forward_flops_is_the_textbook_count():
    import keras

    model = keras.Sequential([keras.Input((112, 112, 3)), keras.layers.Conv2D(8, 3, padding="same", use_bias=False),
                              keras.layers.Conv2D(16, 1, use_bias=False), keras.layers.GlobalAveragePooling2D()])
    conv3 = 2 * 112 * 112 * 3 * 3 * 3 * 8
    conv1 = 2 * 112 * 112 * 8 * 16
    pool = 112 * 112 * 16  # the mean's adds
    flops = train_throughput.forward_flops(model)
    assert abs(flops - (conv3 + conv1 + pool)) <= 64, flops


def test_profile_ranks_op_types_of_a_step(tmp_path):
    pytest.importorskip("xprof")
    import tensorflow as tf

    kernel = tf.Variable(tf.random.normal([3, 3, 3, 8]))

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(tf.nn.conv2d(batch, kernel, 1, "SAME")))
        kernel.assign_sub(0.01 * tape.gradient(loss, kernel))
        return {"loss": loss}

    batch = tf.random.normal([8, 56, 56, 3])
    step(batch)
    prof = train_throughput.profile_step(step, batch, 3, str(tmp_path / "p"))
    types = [op["type"] for op in prof["top_ops"]]
    # the convolution under its kernel's name: Conv2D, _FusedConv2D, or oneDNN's _MklNativeConv2D on AVX-512 hosts
    assert any(t.endswith("Conv2D") for t in types), types
    assert "IDLE" not in types and prof["total_self_time_ms"] > 0
    shares = np.array([op["share"] for op in prof["top_ops"]])
    assert np.all(np.diff(shares) <= 0) and shares.sum() <= 1.0 + 1e-9
