"""Every registered SR / hallucination net: output shapes at two sizes, no NaN, gradients for every
weight, config round trip, .keras save/load, TFLite float32 parity; plus per-architecture checks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.models import SR_NETS, create_sr_net
from lrfr_tf.models.hallucination import FaceHallucinationNet, MixAdversarialDiscriminator
from lrfr_tf.models.ip_unet import IdentityPreservingUNet
from lrfr_tf.models.srnet import SRNet
from model_checks import (assert_all_weights_get_gradients, assert_config_roundtrip, assert_keras_save_load,
                          assert_tflite_parity)

NAMES = SR_NETS.names()

# Tiny widths (same structure) and two input sizes (H, W) per net. A net not listed is tested at
# its default widths on inputs of side ``input_multiple``.
TINY = {
    "srnet": (dict(scale=4, features=8, shrink=4, num_mapping=2), [(28, 28), (7, 10)]),
    "ip_unet": (dict(filters=4, max_filters=16), [(128, 128), (128, 256)]),
    "rim_fhn": (dict(filters=8, num_coarse_blocks=1, num_blocks=1), [(112, 112), (48, 64)]),
    "rim_discriminator": (dict(filters=8, max_filters=16, feature_dim=16), [(112, 112), (40, 56)]),
}


def tiny(name, **kwargs):
    base, _ = TINY.get(name, ({}, None))
    return create_sr_net(name, **{**base, **kwargs})


def sizes(name, net):
    if name in TINY:
        return TINY[name][1]
    return [(net.input_multiple, net.input_multiple)]


def smallest(name, net):
    return min(sizes(name, net), key=lambda hw: hw[0] * hw[1])


def images(height, width, batch=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, height, width, 3)).astype(np.float32)


def expected_shapes(net, batch, height, width):
    """Output shapes implied by the net's attributes, for a tensor output or each known dict key."""
    scale = getattr(net, "scale", 1)
    out_h, out_w = height * scale, width * scale
    stride = getattr(net, "prior_stride", 1)
    return {
        "image": (batch, out_h, out_w, getattr(net, "channels", 3)),
        "sr": (batch, out_h, out_w, getattr(net, "channels", 3)),
        "coarse": (batch, out_h, out_w, getattr(net, "channels", 3)),
        "heatmaps": (batch, out_h // stride, out_w // stride, getattr(net, "num_landmarks", 0)),
        "parsing_logits": (batch, out_h // stride, out_w // stride, getattr(net, "num_parsing_classes", 0)),
        "features": (batch, getattr(net, "feature_dim", 0)),
        "domain_logits": (batch, 1),
    }


@pytest.mark.parametrize("name", NAMES)
def test_forward_shapes_and_finite_at_two_sizes(name):
    net = tiny(name)
    for height, width in sizes(name, net):
        out = net(images(height, width), training=False)
        shapes = expected_shapes(net, 2, height, width)
        named = out if isinstance(out, dict) else {"image": out}
        for key, value in named.items():
            value = np.asarray(value)
            assert np.all(np.isfinite(value)), f"{name} {key}: non-finite output at {height}x{width}"
            assert value.dtype == np.float32
            if key in shapes:
                assert value.shape == shapes[key], f"{name} {key} at {height}x{width}: {value.shape} != {shapes[key]}"
            else:
                assert value.shape[0] == 2


@pytest.mark.parametrize("name", NAMES)
def test_every_weight_gets_a_gradient(name):
    net = tiny(name)
    height, width = smallest(name, net)
    assert_all_weights_get_gradients(net, images(height, width, batch=3))


@pytest.mark.parametrize("name", NAMES)
def test_config_roundtrip_and_keras_save_load(name, tmp_path):
    net = tiny(name)
    x = images(*smallest(name, net))
    assert_config_roundtrip(net, x)
    assert_keras_save_load(net, x, tmp_path)


# Converting the deeper graphs takes 15-20 s each on 2 CPU cores: those run in the slow step.
SLOW_TFLITE = {"ip_unet", "rim_fhn"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_TFLITE else n for n in NAMES])
def test_tflite_parity(name, tmp_path):
    net = tiny(name)
    x = images(*smallest(name, net))
    net(x)
    assert_tflite_parity(net, x, tmp_path, min_cosine=0.9999)


@pytest.mark.parametrize("name", NAMES)
def test_build_from_shape_creates_the_weights(name):
    built, called = tiny(name), tiny(name)
    height, width = smallest(name, built)
    built.build((None, height, width, 3))
    called(images(height, width))
    assert built.built and built.weights and len(built.weights) == len(called.weights)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_shape_raises(name):
    net = tiny(name)
    with pytest.raises(ValueError, match="expects"):
        net(np.zeros((1, net.input_multiple, net.input_multiple, 4), np.float32))
    if net.input_multiple > 1:
        with pytest.raises(ValueError, match="multiples"):
            net(np.zeros((1, net.input_multiple + 1, net.input_multiple, 3), np.float32))


def test_srnet_matches_fsrcnn_parameter_count():
    """FSRCNN(d=56, s=12, m=4) has 25d + sd + 9ms^2 + ds + 81d = 12,464 weights (Dong et al. 2016; Y channel,
    biases and PReLU slopes not counted)."""
    net = SRNet(scale=3, features=56, shrink=12, num_mapping=4, channels=1)
    net(np.zeros((1, 8, 8, 1), np.float32))
    kernels = [w for w in net.weights if w.path.endswith("kernel")]
    assert sum(int(np.prod(w.shape)) for w in kernels) == 12464
    assert len(net.activations) == 4 + 3 and all(isinstance(a, keras.layers.PReLU) for a in net.activations)
    assert net.deconv.strides == (3, 3) and net.deconv.kernel_size == (9, 9)


def test_srnet_residual_starts_from_bilinear_upscaling():
    net = SRNet(scale=2, features=8, shrink=4, num_mapping=1, residual=True)
    x = images(6, 6)
    net(x)
    net.deconv.kernel.assign(tf.zeros_like(net.deconv.kernel))
    expected = tf.image.resize(x, (12, 12), method="bilinear")
    np.testing.assert_allclose(net(x).numpy(), expected.numpy(), atol=1e-3)


def test_ip_unet_default_architecture():
    """7 stride-2 down convs (BN except first and innermost), 7 stride-2 transposed convs, 3 dropouts, tanh."""
    net = IdentityPreservingUNet()
    assert net.input_multiple == 128
    assert len(net.down_convs) == 7 and all(c.strides == (2, 2) for c in net.down_convs)
    assert [n is not None for n in net.down_norms] == [False, True, True, True, True, True, False]
    assert [c.filters for c in net.down_convs] == [64, 128, 256, 512, 512, 512, 512]
    assert [c.filters for c in net.up_convs] == [512, 512, 512, 256, 128, 64]
    assert len(net.up_convs) + 1 == 7 and all(n is not None for n in net.up_norms)
    assert [d is not None for d in net.up_dropouts] == [True, True, True, False, False, False]
    assert net.to_rgb.strides == (2, 2)


def test_ip_unet_output_range_and_dropout_only_in_training():
    net = tiny("ip_unet")
    x = images(128, 128)
    out = net(x, training=False).numpy()
    assert out.min() >= 0.0 and out.max() <= 255.0  # tanh output mapped to [0, 255]
    np.testing.assert_array_equal(out, net(x, training=False).numpy())


def test_ip_unet_pad_input_runs_the_7_level_net_on_112_px_faces(tmp_path):
    """pad_input: a 112x112 face is reflected to 128x128 (8 px each side), run through the 7-level net and the
    central 112x112 returned: the same as the unpadded net on the NumPy-reflected input, cropped."""
    net = tiny("ip_unet", num_levels=7, pad_input=True)
    assert net.input_multiple == 1 and net.depth_multiple == 128
    x = images(112, 112)
    out = net(x, training=False).numpy()
    assert out.shape == (2, 112, 112, 3)
    plain = tiny("ip_unet", num_levels=7)
    plain(images(128, 128))
    plain.set_weights(net.get_weights())
    padded = np.pad(x, [[0, 0], [8, 8], [8, 8], [0, 0]], mode="reflect")
    np.testing.assert_allclose(out, plain(padded, training=False).numpy()[:, 8:120, 8:120], atol=1e-4)
    assert net(images(112, 96), training=False).shape == (2, 112, 96, 3)  # 96 px wide: 16 px of reflection each side
    with pytest.raises(ValueError, match="pad_input cannot reflect 40 px"):
        net(images(40, 40))
    with pytest.raises(ValueError, match="multiples of 128"):
        plain(x)
    assert_config_roundtrip(net, x)
    assert_keras_save_load(net, x, tmp_path)


def test_ip_unet_residual_starts_near_the_identity(tmp_path):
    """residual=True: SR(x) = clip(x + tanh(net), -1, 1) in unit range; at initialisation the output is the
    input within a few grey levels, where the pix2pix output is a flat grey image."""
    x = images(112, 112)
    net = tiny("ip_unet", num_levels=7, pad_input=True, residual=True)
    plain = tiny("ip_unet", num_levels=7, pad_input=True)
    net(x), plain(x)
    plain.set_weights(net.get_weights())
    out, flat = net(x, training=False).numpy(), plain(x, training=False).numpy()
    unit = np.asarray(x, np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(out, (np.clip(unit + (flat / 127.5 - 1.0), -1, 1) + 1.0) * 127.5, atol=1e-3)
    assert np.abs(out - x).max() < 8.0 and np.abs(flat - 127.5).max() < 8.0
    assert np.corrcoef(out.ravel(), np.asarray(x).ravel())[0, 1] > 0.99
    assert_config_roundtrip(net, x)
    assert_keras_save_load(net, x, tmp_path)


@pytest.mark.slow
def test_ip_unet_pad_input_tflite_parity(tmp_path):
    net = tiny("ip_unet", num_levels=7, pad_input=True)
    x = images(112, 112)
    net(x)
    assert_tflite_parity(net, x, tmp_path, min_cosine=0.9999)


def test_face_hallucination_priors_and_scale():
    net = tiny("rim_fhn", scale=4, num_landmarks=5, num_parsing_classes=6)
    assert isinstance(net, FaceHallucinationNet) and net.input_multiple == 1
    out = net(images(7, 7))
    assert out["sr"].shape == (2, 28, 28, 3)
    assert out["heatmaps"].shape == (2, 14, 14, 5) and out["parsing_logits"].shape == (2, 14, 14, 6)


def test_discriminator_paths():
    net = tiny("rim_discriminator")
    assert isinstance(net, MixAdversarialDiscriminator)
    out = net(images(64, 64))
    assert set(out) == {"features", "domain_logits"}
    # The feature integrator sees every stage: all stage kernels get a gradient from the features alone.
    with tf.GradientTape() as tape:
        features = net(images(64, 64))["features"]
        loss = tf.reduce_sum(features * tf.random.stateless_normal(features.shape, seed=[1, 2]))
    grads = tape.gradient(loss, [s.kernel for s in net.stages])
    assert all(g is not None and np.any(g.numpy()) for g in grads)


def test_ip_unet_dropout_is_seeded():
    """Same seed, same weights -> the same training-mode dropout masks (deterministic runs)."""
    x = images(128, 128)
    a, b = tiny("ip_unet", seed=5), tiny("ip_unet", seed=5)
    a(x), b(x)
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a(x, training=True).numpy(), b(x, training=True).numpy())
    assert not np.array_equal(a(x, training=True).numpy(), a(x, training=False).numpy())


@pytest.fixture
def mixed_float16():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize("name", NAMES)
def test_mixed_precision_outputs_are_float32_and_close(name, mixed_float16):
    net = tiny(name)
    x = images(*smallest(name, net))
    out = net(x, training=False)
    keras.config.set_dtype_policy("float32")
    reference = tiny(name)
    reference(x)
    reference.set_weights(net.get_weights())
    expected = reference(x, training=False)
    for got, want in zip(tf.nest.flatten(out), tf.nest.flatten(expected)):
        got, want = got.numpy(), want.numpy().astype(np.float64)
        assert got.dtype == np.float32 and np.all(np.isfinite(got))
        cos = np.sum(got * want) / (np.linalg.norm(got) * np.linalg.norm(want))
        assert cos > 0.999, f"{name}: float16 compute drifts from float32 (cosine {cos:.5f})"
