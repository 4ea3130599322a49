"""Probe and gallery paths (issue 15, item 3): an SR composite embeds degraded faces through its SR net and
undegraded faces directly with its recognizer, in every protocol the harness runs."""

import os

import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.eval.cache import EmbeddingCache
from lrfr_tf.eval.degradation import ResolutionDegradation
from lrfr_tf.eval.embedders import KerasEmbedder
from lrfr_tf.eval.imageset import ImageSet, embed_images
from lrfr_tf.models import create_backbone, create_sr_net
from lrfr_tf.models.super_resolved import SuperResolvedEmbedder

SAMPLE_LFW = os.path.join(os.path.dirname(__file__), "..", "..", "lrfr_tf", "data", "sample", "lfw", "aligned112")


def _composite():
    tf.keras.utils.set_random_seed(0)
    recognizer = create_backbone("iresnet18", units=(1, 1, 1, 1), channels=(8, 8, 16, 16), stem_channels=8,
                                 embedding_dim=16)
    model = SuperResolvedEmbedder(create_sr_net("srnet"), recognizer, (28, 28))
    model(tf.zeros([1, 112, 112, 3]))
    return model


@pytest.fixture(scope="module")
def images():
    paths = sorted(os.path.relpath(os.path.join(d, f), SAMPLE_LFW)
                   for d, _, fs in os.walk(SAMPLE_LFW) for f in fs if f.endswith(".jpg"))[:6]
    return ImageSet(SAMPLE_LFW, paths, "test")


def test_undegraded_faces_take_the_recognizer_and_degraded_ones_the_sr_net(images):
    model = _composite()
    embedder = KerasEmbedder(model, batch_size=8)
    direct = KerasEmbedder(model.recognizer, preprocessing=model.preprocessing, batch_size=8)  # the recognizer alone
    through_sr = KerasEmbedder(model, batch_size=8)
    through_sr.gallery = None  # what the harness computed before: every face through the SR net
    degradation = ResolutionDegradation()
    idx = np.arange(len(images))
    pixels = images.images(False)[idx]

    hr = embed_images(embedder, images, idx, 112, degradation, EmbeddingCache(), progress=False)
    np.testing.assert_allclose(hr, direct.embed(pixels), atol=1e-5)
    assert np.max(np.abs(hr - through_sr.embed(pixels))) > 1e-2  # the paths differ: the test can tell them apart

    lr = embed_images(embedder, images, idx, 8, degradation, EmbeddingCache(), progress=False)
    np.testing.assert_allclose(lr, through_sr.embed(degradation(pixels, 8)), atol=1e-5)


def test_the_gallery_path_changes_the_fingerprint_and_is_reported():
    model = _composite()
    with_gallery, without = KerasEmbedder(model, batch_size=8), KerasEmbedder(model, batch_size=8)
    without.gallery = None
    assert with_gallery.fingerprint != without.fingerprint  # no stale SR-path embeddings from an old cache
    assert with_gallery.describe()["gallery_path"].startswith("direct recognizer")
    plain = KerasEmbedder(model.recognizer, preprocessing=model.preprocessing, batch_size=8)
    assert plain.gallery is None and plain.describe()["gallery_path"] == "same as probe"
