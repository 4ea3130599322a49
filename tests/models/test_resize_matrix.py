"""``resize_to`` computes ``tf.image.resize`` as two matrix products (every method is linear and separable), so
the SR composites convert to TFLite builtins (no ResizeArea, no antialiased bicubic kernel there)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.models.super_resolved import resize_matrix, resize_to

CASES = [((112, 112), (28, 28)), ((112, 96), (37, 23)), ((7, 9), (112, 112)), ((112, 112), (112, 96))]


@pytest.mark.parametrize("method", ["area", "bicubic", "bilinear", "nearest"])
@pytest.mark.parametrize("shapes", CASES, ids=lambda c: f"{c[0][0]}x{c[0][1]}-{c[1][0]}x{c[1][1]}")
def test_resize_to_is_tf_image_resize(shapes, method):
    (h, w), size = shapes
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (2, h, w, 3)).astype(np.float32))
    expected = tf.image.resize(x, size, method=method, antialias=method != "area").numpy()
    eager = resize_to(x, size, method).numpy()
    traced = tf.function(lambda t: resize_to(t, size, method), autograph=False)(x).numpy()
    for got in (eager, traced):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-4)  # float32 rounding of [0, 255] values


def test_resize_matrix_rows_are_the_kernel_weights():
    """Area down by an integer factor is the mean of each block; every row of a resize sums to 1."""
    area = resize_matrix(112, 28, "area").numpy()
    np.testing.assert_allclose(area, np.kron(np.eye(28), np.full((1, 4), 0.25)), atol=1e-7)
    for method in ("bicubic", "bilinear"):
        np.testing.assert_allclose(resize_matrix(112, 20, method, True).numpy().sum(axis=1), 1.0, atol=1e-6)


def test_composite_with_area_resize_converts_to_builtin_tflite(tmp_path):
    """A SuperResolvedEmbedder whose SR net takes 28 px (area down from 112) converts with builtins only and
    matches Keras."""
    from ai_edge_litert.interpreter import Interpreter

    from lrfr_tf.models import create_backbone, create_sr_net
    from lrfr_tf.models.super_resolved import SuperResolvedEmbedder

    recognizer = create_backbone("iresnet18", units=(1, 1, 1, 1), channels=(8, 8, 16, 16), stem_channels=8,
                                 embedding_dim=16)
    model = SuperResolvedEmbedder(create_sr_net("srnet"), recognizer, (28, 28))
    x = np.random.default_rng(1).uniform(-1, 1, (1, 112, 112, 3)).astype(np.float32)
    expected = model(x).numpy()
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("embed", lambda t: model(t, training=False),
                         input_signature=[tf.TensorSpec([1, 112, 112, 3], tf.float32)])
    archive.write_out(str(tmp_path / "sm"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "sm"), signature_keys=["embed"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
