"""Embedders: Keras, SavedModel, TFLite (reference model and a converted tiny model), flips, errors."""

import json

import numpy as np
import pytest
import tensorflow as tf

from eval_helpers import FnEmbedder, tiny_model
from lrfr_tf.data.images import load_images
from lrfr_tf.eval.embedders import KerasEmbedder, NonFiniteEmbeddingError, TFLiteEmbedder, load_embedder
from lrfr_tf.preprocessing import ARCFACE, Preprocessing


@pytest.fixture(scope="module")
def faces(sample_dir):
    paths = sorted((sample_dir / "lfw" / "aligned112").rglob("*.jpg"))[:5]
    return load_images([str(p) for p in paths], progress=False)


def _expected(model, images, pre=ARCFACE):
    raw = model(pre.normalize_numpy(images.astype(np.float32)), training=False).numpy()
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


def test_keras_embedder_matches_model_and_flips(faces):
    model = tiny_model()
    emb = load_embedder(model, preprocessing="arcface", batch_size=2)
    out = emb.embed(faces)
    assert out.shape == (5, 8) and out.dtype == np.float32 and emb.embedding_dim == 8
    np.testing.assert_allclose(out, _expected(model, faces), atol=1e-5)
    x = ARCFACE.normalize_numpy(faces.astype(np.float32))
    raw, mirrored = model(x).numpy(), model(x[:, :, ::-1]).numpy()
    s = KerasEmbedder(model, "arcface", flip="sum").embed(faces)
    np.testing.assert_allclose(s, (raw + mirrored) / np.linalg.norm(raw + mirrored, axis=1, keepdims=True), atol=1e-5)
    c = KerasEmbedder(model, "arcface", flip="concat")
    cat = np.concatenate([raw, mirrored], 1)
    np.testing.assert_allclose(c.embed(faces), cat / np.linalg.norm(cat, axis=1, keepdims=True), atol=1e-5)
    assert c.embedding_dim == 16
    assert len({emb.fingerprint, KerasEmbedder(model, "arcface", flip="sum").fingerprint, c.fingerprint}) == 3


def test_preprocessing_is_taken_from_the_model_and_resizes(faces):
    model = tiny_model(size=96)
    model.preprocessing = Preprocessing(size=(96, 96), mean=0.0, scale=1 / 255.0, channels="BGR")
    emb = load_embedder(model)
    assert emb.preprocessing_source == "model"
    resized = np.clip(tf.image.resize(faces.astype(np.float32), (96, 96), "bicubic", antialias=True).numpy(), 0, 255)
    np.testing.assert_allclose(emb.embed(faces), _expected(model, resized, model.preprocessing), atol=1e-5)


def test_fingerprint_follows_weights_and_preprocessing():
    model = tiny_model()
    emb = KerasEmbedder(model, "arcface")
    before = emb.fingerprint
    assert before == KerasEmbedder(tiny_model(), "arcface").fingerprint  # same weights, same fingerprint
    assert before != KerasEmbedder(model, Preprocessing(mean=128.0)).fingerprint
    model.layers[-1].kernel.assign(model.layers[-1].kernel + 1.0)
    assert emb.fingerprint != before  # in-memory weights changed (training): not memoised


def test_model_output_not_2d_is_an_error(faces):
    emb = KerasEmbedder(tiny_model(flat=False), "arcface", name="conv_only")
    with pytest.raises(ValueError, match=r"conv_only: model output has shape \[64, 28, 28, 8\].*2-D"):
        emb.embed(faces)


def test_nan_embeddings_are_an_error(faces):
    def nan_for_dark(x):
        out = np.ones((len(x), 4))
        out[x.max(axis=(1, 2, 3)) < -0.99] = np.nan  # black images
        return out

    with pytest.raises(NonFiniteEmbeddingError, match=r"fn: the model produced non-finite \(NaN/inf\) embeddings") as e:
        FnEmbedder(nan_for_dark).embed(np.r_[faces[:1], np.zeros_like(faces[:2])])
    assert e.value.indices.tolist() == [1, 2]


def test_reference_tflite_padded_equals_unpadded(mobilefacenet_tflite, faces):
    emb = load_embedder(str(mobilefacenet_tflite), preprocessing="arcface")
    assert isinstance(emb, TFLiteEmbedder) and emb.batch_size == 2 and emb.embedding_dim == 192
    assert emb.model_hash == "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b"
    together = emb.embed(faces)  # 5 images: the last batch is padded with a zero image
    alone = np.concatenate([emb.embed(faces[i : i + 1]) for i in range(5)])  # every batch padded
    pairs = np.concatenate([emb.embed(faces[0:2]), emb.embed(faces[2:4])])  # no padding
    np.testing.assert_allclose(together, alone, atol=1e-6)
    np.testing.assert_allclose(together[:4], pairs, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-6)
    # Same face, different batch partners and positions: embeddings of distinct faces differ.
    assert np.max(together @ together.T - np.eye(5)) < 0.99


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny Keras model exported as SavedModel (dynamic batch) and converted to TFLite."""
    d = tmp_path_factory.mktemp("exported")
    model = tiny_model(seed=3)
    model.export(str(d / "saved"), verbose=False)
    (d / "saved" / "preprocessing.json").write_text(json.dumps(ARCFACE.get_config()))
    tflite = tf.lite.TFLiteConverter.from_saved_model(str(d / "saved")).convert()
    (d / "tiny.tflite").write_bytes(tflite)
    model.save(str(d / "tiny.keras"))
    conv_only = tiny_model(seed=4, flat=False)
    conv_only.export(str(d / "conv_only"), verbose=False)
    (d / "conv_only.tflite").write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(d / "conv_only")).convert())
    return model, d


def test_savedmodel_tflite_and_keras_file_agree(exported, faces):
    model, d = exported
    expected = _expected(model, faces)
    sm = load_embedder(str(d / "saved"), batch_size=3)
    assert sm.kind == "saved_model" and sm.preprocessing_source == "sidecar"
    np.testing.assert_allclose(sm.embed(faces), expected, atol=1e-5)
    tfl = load_embedder(str(d / "tiny.tflite"), preprocessing="arcface", batch_size=4)
    assert tfl.kind == "tflite" and tfl.batch_size == 4  # dynamic batch resized with resize_tensor_input
    np.testing.assert_allclose(tfl.embed(faces), expected, atol=1e-5)
    kf = load_embedder(str(d / "tiny.keras"), preprocessing="arcface")
    assert kf.kind == "keras" and len(kf.model_hash) == 64
    np.testing.assert_allclose(kf.embed(faces), expected, atol=1e-5)


def test_tflite_output_not_2d_is_an_error(exported):
    _, d = exported
    with pytest.raises(ValueError, match=r"conv_only\.tflite: output shape \[1, 28, 28, 8\] is not 2-D"):
        load_embedder(str(d / "conv_only.tflite"))


def test_load_embedder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model"):
        load_embedder(str(tmp_path / "missing.tflite"))
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(ValueError, match="unknown model format '.onnx'"):
        load_embedder(str(tmp_path / "model.onnx"))
    with pytest.raises(ValueError, match="not a SavedModel"):
        load_embedder(str(tmp_path))
    with pytest.raises(ValueError, match="flip must be one of"):
        KerasEmbedder(tiny_model(), "arcface", flip="mean")


def test_one_as_preprocessing_for_embedders_and_backbones(tmp_path):
    """None means "not given": an embedder looks further (model, sidecar, default), a backbone takes ARCFACE;
    every other form is read the same way by both."""
    from lrfr_tf.models.layers import Backbone
    from lrfr_tf.preprocessing import SPHEREFACE_112X96, as_preprocessing

    assert as_preprocessing(None) is None
    assert Backbone(8).preprocessing is ARCFACE
    path = tmp_path / "pre.json"
    path.write_text(json.dumps(SPHEREFACE_112X96.get_config()))
    for form in (SPHEREFACE_112X96, "sphereface_112x96", SPHEREFACE_112X96.get_config(), str(path),
                 SPHEREFACE_112X96.to_json()):
        assert as_preprocessing(form) == SPHEREFACE_112X96
        assert Backbone(8, preprocessing=form).preprocessing == SPHEREFACE_112X96
    model = tiny_model()
    assert KerasEmbedder(model, None).preprocessing_source == "default"
    assert KerasEmbedder(model, "sphereface_112x96").preprocessing == SPHEREFACE_112X96
    for bad, error in (("nonsense", ValueError), (3, TypeError)):
        with pytest.raises(error):
            Backbone(8, preprocessing=bad)
        with pytest.raises(error):
            KerasEmbedder(model, bad)
