"""Every registered backbone: shapes, gradients, serialisation, TFLite parity; published sizes."""

import numpy as np
import pytest

from lrfr_tf.models import BACKBONES, create_backbone
from lrfr_tf.models.layers import Backbone
from lrfr_tf.models.table import count_macs, count_params
from lrfr_tf.preprocessing import ARCFACE, Preprocessing
from model_checks import (assert_all_weights_get_gradients, assert_config_roundtrip, assert_keras_save_load,
                          assert_tflite_parity)

# Small widths for the fast tests (same depth and structure). A backbone not
# listed here is tested at its default size.
SMALL = {
    "iresnet18": dict(channels=(8, 16, 16, 32), stem_channels=8, embedding_dim=16),
    "iresnet34": dict(channels=(8, 8, 16, 16), stem_channels=8, embedding_dim=16),
    "iresnet50": dict(channels=(8, 8, 16, 16), stem_channels=8, embedding_dim=16),
    "iresnet100": dict(channels=(8, 8, 8, 16), stem_channels=8, embedding_dim=16),
    "mobilefacenet": dict(stem_channels=8, stages=((2, 8, 2, 2), (2, 16, 1, 2), (2, 16, 2, 2)),
                          head_channels=32, embedding_dim=16),
    "sphereface20": dict(channels=(8, 8, 16, 16), embedding_dim=16),
}
NAMES = BACKBONES.names()
# Deeper members of a family differ from its shallow member only in units per
# stage; their expensive checks (gradients, serialisation, TFLite) run in the slow step.
DEEP = {"iresnet34", "iresnet50", "iresnet100"}
EXPENSIVE = [pytest.param(n, marks=pytest.mark.slow) if n in DEEP else n for n in NAMES]


def small(name, **kwargs):
    return create_backbone(name, **{**SMALL.get(name, {}), **kwargs})


def images(size, batch=2, seed=0):
    """Normalised RGB faces-like input: uniform [0, 255] pixels through the ARCFACE normalisation."""
    rng = np.random.default_rng(seed)
    return ARCFACE.normalize_numpy(rng.uniform(0, 255, (batch, size, size, 3)))


@pytest.mark.parametrize("name,size", [(n, 112) for n in NAMES] + [
    pytest.param(n, 48, marks=pytest.mark.slow) if n in DEEP else (n, 48) for n in NAMES])
def test_forward_shape_and_blocks(name, size):
    model = small(name)
    assert isinstance(model, Backbone)
    x = images(size)
    embedding, blocks = model.call_with_blocks(x, training=False)
    embedding = np.asarray(embedding)
    assert embedding.shape == (2, model.embedding_dim) and embedding.dtype == np.float32
    assert np.all(np.isfinite(embedding))
    assert blocks and all(b.shape[0] == 2 and np.all(np.isfinite(b)) for b in blocks)
    # Blocks go down in resolution: the last one is at 1/16 of the input (ceil at each stride 2).
    assert blocks[-1].shape[1] == -(-size // 16)
    np.testing.assert_allclose(model(x, training=False), embedding, rtol=1e-5, atol=1e-6)
    assert isinstance(model.preprocessing, Preprocessing)


@pytest.mark.parametrize("name", EXPENSIVE)
def test_every_weight_gets_a_gradient(name):
    assert_all_weights_get_gradients(small(name), images(64, batch=4))


@pytest.mark.parametrize("name", EXPENSIVE)
def test_config_roundtrip_and_keras_save_load(name, tmp_path):
    model = small(name, preprocessing=Preprocessing(size=(112, 112), mean=127.0, scale=1 / 127.0))
    x = images(112)
    clone = assert_config_roundtrip(model, x)
    assert clone.preprocessing == model.preprocessing
    loaded = assert_keras_save_load(model, x, tmp_path)
    assert loaded.preprocessing == model.preprocessing and loaded.embedding_dim == model.embedding_dim
    # Block outputs survive serialisation too (residual distillation reads them).
    for a, b in zip(model.call_with_blocks(x)[1], loaded.call_with_blocks(x)[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", EXPENSIVE)
def test_tflite_float32_parity(name, tmp_path):
    assert_tflite_parity(small(name), images(112), tmp_path, min_cosine=0.9999)


def test_native_low_resolution_tflite(tmp_path):
    """The default adaptive head (a shared bilinear resize to the native grid) runs at 32 px in TFLite too."""
    assert_tflite_parity(small("mobilefacenet"), images(32), tmp_path, min_cosine=0.9999)


@pytest.mark.parametrize("name,fixed,adaptive", [
    ("iresnet18", "flatten", "adaptive_flatten"),
    ("sphereface20", "flatten", "adaptive_flatten"),
    ("mobilefacenet", "gdc", "adaptive_gdc"),
])
def test_size_tied_head_equals_adaptive_at_native_size(name, fixed, adaptive):
    x112, x64 = images(112), images(64)
    tied, free = small(name, head=fixed), small(name, head=adaptive)
    tied(x112), free(x112)
    free.set_weights(tied.get_weights())
    np.testing.assert_allclose(free(x112), tied(x112), rtol=1e-6, atol=1e-6)
    assert np.all(np.isfinite(free(x64)))
    with pytest.raises(ValueError, match="size-tied head expects a 7x7 feature map, got 4x4"):
        tied(x64)


@pytest.mark.parametrize("name", ["iresnet18", "sphereface20", "mobilefacenet"])
def test_gap_head_and_relu_option(name):
    model = small(name, head="gap", activation="relu")
    out = model(images(40))
    assert out.shape == (2, model.embedding_dim) and np.all(np.isfinite(out))
    assert not any("alpha" in w.path for w in model.weights), "ReLU model must have no PReLU slopes"


def test_adaptive_head_resizes_feature_map_bilinearly():
    """At 64 px the 4x4 map is resized to 7x7 before the flatten-FC: compare with a NumPy-side resize."""
    import tensorflow as tf

    model = small("iresnet18", head="adaptive_flatten")
    x = images(64)
    _, blocks = model.call_with_blocks(x, training=False)
    feat = model.head_bn(blocks[-1], training=False)
    resized = tf.image.resize(feat, (7, 7), method="bilinear").numpy().reshape(2, -1)
    expected = model.features(model.fc(resized), training=False).numpy()
    np.testing.assert_allclose(model(x, training=False), expected, rtol=1e-4, atol=1e-5)


def test_preprocessing_sets_the_head_grid():
    """SphereFace's original 112x96 crop gives the paper's 7x6 map into fc5 (512 * 7 * 6 inputs)."""
    model = small("sphereface20", preprocessing=Preprocessing(size=(112, 96)), head="flatten")
    x = ARCFACE.normalize_numpy(np.random.default_rng(1).uniform(0, 255, (2, 112, 96, 3)))
    assert model(x).shape == (2, 16)
    assert model.fc.kernel.shape == (16 * 7 * 6, 16)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="head must be one of"):
        create_backbone("iresnet18", head="gdc")
    with pytest.raises(ValueError, match="activation must be one of"):
        small("mobilefacenet", activation="swish")
    with pytest.raises(ValueError, match="embedding_dim"):
        create_backbone("sphereface20", embedding_dim=0)


def test_mobilefacenet_matches_the_paper():
    """Chen et al. 2018, Table 2: MobileFaceNet has 0.99M parameters and 221M MAdds at 112x112."""
    model = create_backbone("mobilefacenet")
    model(images(112, batch=1))
    assert model.embedding_dim == 128
    assert count_macs(model) == pytest.approx(221e6, rel=0.005)
    assert count_params(model) == pytest.approx(0.99e6, rel=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("name,params", [("iresnet50", 43.59e6), ("iresnet100", 65.16e6)])
def test_iresnet_matches_insightface(name, params):
    """insightface arcface_torch model zoo: r50 43.59M and r100 65.16M parameters (512-d embedding)."""
    model = create_backbone(name)
    model(images(112, batch=1))
    assert count_params(model) == pytest.approx(params, rel=0.001)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_full_size_tflite_float32_parity(name, tmp_path):
    model = create_backbone(name)
    x = images(112)
    assert_tflite_parity(model, x, tmp_path, min_cosine=0.9999)
    assert_all_weights_get_gradients(model, images(64, batch=2))


def test_count_macs_by_hand():
    """Conv 8*8*4*(3*3*3) + depthwise 8*8*4*(3*3) + dense 256*5 multiply-accumulates."""
    import keras

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, padding="same"),
                              keras.layers.DepthwiseConv2D(3, padding="same"), keras.layers.Flatten(),
                              keras.layers.Dense(5)])
    assert count_macs(model, (8, 8)) == 8 * 8 * 4 * 27 + 8 * 8 * 4 * 9 + 256 * 5


def test_table_lists_recipes_naming_a_backbone(tmp_path):
    from lrfr_tf.models.table import markdown, recipes_using

    (tmp_path / "a.py").write_text('config.model.backbone = "iresnet50"\n')
    (tmp_path / "b.py").write_text("# iresnet50 in a comment, iresnet100 quoted: 'iresnet100'\n")
    (tmp_path / "_private.py").write_text('"iresnet50"')
    assert recipes_using("iresnet50", tmp_path) == ["a"]
    assert recipes_using("iresnet100", tmp_path) == ["b"]
    row = {"backbone": "x", "params": 1_234_567, "macs": 220_965_376, "embedding_dim": 128, "head": "gdc",
           "recipes": ["a", "b"]}
    assert markdown([row]).splitlines()[-1] == "| `x` | 1.23 M | 221 M | 128 | gdc | a, b |"
