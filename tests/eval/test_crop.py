"""The 112x96 SphereFace/CosFace convention: a centre crop of the aligned 112x112 face, not a squash.

The synthetic model reads a face's identity from the columns at the left and right edges of the 112x96 crop
(as a real 112x96 model relies on the face's outline where the template puts it). Cropped correctly, it
verifies perfectly; squashed 112 -> 96 columns, those columns hold the aligned face's margin and it falls
to chance, as a public quantised 112x96 MobileFaceNet fell from 99.0% to 98.5% on LFW.
"""

import itertools

import keras
import numpy as np
import pytest

from lrfr_tf.eval.embedders import load_embedder
from lrfr_tf.preprocessing import ARCFACE, PRESETS, SPHEREFACE_112X96, Preprocessing, as_preprocessing

EDGE = list(range(0, 6)) + list(range(90, 96))  # crop columns that carry the identity


def _faces(rng, identities=10, per_identity=4):
    base = rng.integers(0, 2, 96)
    codes = rng.integers(0, 2, (identities, len(EDGE)))
    codes[:, 0] = np.arange(identities) % 2  # no two codes equal
    codes[:, 1] = (np.arange(identities) // 2) % 2
    codes[:, 2] = (np.arange(identities) // 4) % 2
    codes[:, 3] = (np.arange(identities) // 8) % 2
    images, labels = [], []
    for k in range(identities):
        bits = base.copy()
        bits[EDGE] = codes[k]
        for _ in range(per_identity):
            face = np.empty((112, 112, 3), np.float32)
            face[:, 8:104] = 255.0 * bits[None, :, None] + rng.normal(0, 8, (112, 96, 3))
            face[:, :8] = rng.uniform(0, 255, (1, 8, 1))  # the aligned face's margins: anything
            face[:, 104:] = rng.uniform(0, 255, (1, 8, 1))
            images.append(np.clip(face, 0, 255))
            labels.append(k)
    return np.stack(images), np.asarray(labels)


def _edge_reader():
    """[B, 112, 96, 3] normalised -> the ±1 readout of the EDGE columns (column means)."""
    selector = np.zeros((96, len(EDGE)), np.float32)
    selector[EDGE, np.arange(len(EDGE))] = 1.0
    inp = keras.Input((112, 96, 3))
    x = keras.ops.mean(inp, axis=(1, 3))  # [B, 96]
    out = keras.layers.Dense(len(EDGE), use_bias=False, trainable=False, name="edge")(x)
    model = keras.Model(inp, out)
    model.get_layer("edge").set_weights([selector])
    return model


def _best_accuracy(embeddings, labels):
    pairs = list(itertools.combinations(range(len(labels)), 2))
    same = np.array([labels[i] == labels[j] for i, j in pairs])
    rng = np.random.default_rng(1)
    diff = rng.choice(np.flatnonzero(~same), same.sum(), replace=False)
    chosen = np.concatenate([np.flatnonzero(same), diff])
    scores = np.array([embeddings[pairs[p][0]] @ embeddings[pairs[p][1]] for p in chosen])
    truth = same[chosen]
    return max(np.mean((scores >= t) == truth) for t in np.unique(scores))


def test_centre_crop_verifies_and_squash_does_not():
    faces, labels = _faces(np.random.default_rng(0))
    model = _edge_reader()
    cropped = load_embedder(model, preprocessing="sphereface_112x96", name="crop")
    squashed = load_embedder(model, preprocessing=Preprocessing(size=(112, 96)), name="squash")
    e_crop = cropped.embed(faces)
    np.testing.assert_allclose(  # exactly the model on the centre 96 columns
        e_crop, _l2(model.predict(SPHEREFACE_112X96.normalize_numpy(faces[:, :, 8:104]), verbose=0)), atol=1e-5)
    acc_crop, acc_squash = _best_accuracy(e_crop, labels), _best_accuracy(squashed.embed(faces), labels)
    assert acc_crop == 1.0
    assert acc_squash < 0.8, acc_squash


def _l2(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("height, width, box", [(112, 112, (0, 8, 112, 96)), (14, 14, (0, 1, 14, 12)),
                                                (8, 8, (0, 0, 8, 7))])
def test_crop_box_scales_with_the_face(height, width, box):
    assert SPHEREFACE_112X96.crop_box(height, width) == box
    assert ARCFACE.crop_box(height, width) == (0, 0, height, width)


def test_crop_config_roundtrip_and_validation():
    assert Preprocessing.from_config(SPHEREFACE_112X96.get_config()) == SPHEREFACE_112X96
    assert "crop" not in ARCFACE.get_config()  # old sidecars and fingerprints unchanged
    assert as_preprocessing("sphereface_112x96") is PRESETS["sphereface_112x96"]
    with pytest.raises(ValueError, match="crop must be"):
        Preprocessing(crop=(120, 96))


@pytest.mark.parametrize("pre", [ARCFACE, SPHEREFACE_112X96, Preprocessing(size=(80, 80)),
                                 Preprocessing(size=(64, 64), resize_method="bilinear")])
def test_the_training_graph_prepares_faces_as_the_harness_does(pre):
    """``Preprocessing.prepare`` (TF, in training graphs) equals ``prepare_images`` (harness, export, calibration)
    on faces of the aligned size and of other sizes: one preprocessing contract. NumPy reference for the
    no-resize case: (x - mean) * scale of the centre crop."""
    import tensorflow as tf

    from lrfr_tf.eval.embedders import prepare_images

    rng = np.random.default_rng(0)
    for shape in ((3, 112, 112, 3), (2, 40, 40, 3)):
        x = rng.uniform(0, 255, shape).astype(np.float32)
        np.testing.assert_allclose(prepare_images(x, pre), pre.prepare(tf.constant(x)).numpy(), atol=1e-6)
    x = rng.uniform(0, 255, (2, 112, 112, 3)).astype(np.float32)
    if pre.size == (112, 112):
        np.testing.assert_allclose(pre.prepare(tf.constant(x)).numpy(), (x - pre.mean) * pre.scale, atol=1e-5)
    assert prepare_images(x, pre).shape == (2, *pre.size, 3)
