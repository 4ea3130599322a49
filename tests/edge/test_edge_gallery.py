"""The gallery file: round trip, model binding, empty galleries and damaged or hostile files."""

import numpy as np
import pytest

from lrfr_tf.edge.gallery import Gallery, load_gallery


def unit_rows(n, dim=8, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_round_trip_and_best_match(tmp_path):
    emb = unit_rows(4)
    path = str(tmp_path / "g.npz")
    Gallery("a" * 64, 8, emb, ["ann", "ann", "bob", "cid"], ["1.jpg", "2.jpg", "3.jpg", "4.jpg"]).save(path)
    gallery = load_gallery(path, "a" * 64, 8)
    assert gallery.names == ["ann", "ann", "bob", "cid"] and gallery.identities == ["ann", "bob", "cid"]
    np.testing.assert_allclose(gallery.embeddings, emb)
    probes = np.stack([emb[1], emb[2] + 0.1 * emb[3]])
    (n0, s0), (n1, s1) = gallery.best_match(probes)
    assert (n0, n1) == ("ann", "bob")
    assert s0 == pytest.approx(1.0, abs=1e-6)
    assert s1 == pytest.approx(float(emb[2] @ (probes[1] / np.linalg.norm(probes[1]))), abs=1e-6)


def test_another_models_gallery_is_refused(tmp_path):
    path = str(tmp_path / "g.npz")
    Gallery("a" * 64, 8, unit_rows(2), ["x", "y"], ["1", "2"]).save(path)
    with pytest.raises(ValueError, match="enrolled with another model"):
        load_gallery(path, "b" * 64, 8)
    with pytest.raises(ValueError, match="8-d embeddings, the model makes 16-d"):
        load_gallery(path, "a" * 64, 16)


def test_empty_gallery_answers_nothing(tmp_path):
    path = str(tmp_path / "empty.npz")
    Gallery("a" * 64, 8, np.zeros((0, 8)), [], []).save(path)
    gallery = load_gallery(path, "a" * 64, 8)
    assert len(gallery) == 0
    assert gallery.best_match(unit_rows(2)) == [(None, None), (None, None)]


def test_damaged_and_hostile_files_are_refused(tmp_path):
    missing_keys = tmp_path / "other.npz"
    np.savez(missing_keys, embeddings=unit_rows(2))
    with pytest.raises(ValueError, match="not an lrfr_tf.edge gallery"):
        load_gallery(str(missing_keys))
    pickled = tmp_path / "pickled.npz"
    fields = dict(format_version=1, model_sha256="a", embedding_dim=8, embeddings=unit_rows(1), sources=np.array(["s"]))
    np.savez(pickled, names=np.array([{"evil": 1}], dtype=object), **fields)
    with pytest.raises(ValueError, match="pickled"):
        load_gallery(str(pickled))
    text = tmp_path / "text.npz"
    text.write_text("not a zip")
    with pytest.raises(ValueError, match="not a readable gallery"):
        load_gallery(str(text))
    newer = tmp_path / "newer.npz"
    np.savez(newer, **{**fields, "format_version": 2}, names=np.array(["x"]))
    with pytest.raises(ValueError, match="format version 2"):
        load_gallery(str(newer))
    mismatched = tmp_path / "mismatched.npz"
    np.savez(mismatched, **fields, names=np.array(["x", "y"]))
    with pytest.raises(ValueError, match="damaged gallery"):
        load_gallery(str(mismatched))
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_gallery(str(tmp_path / "absent.npz"))


@pytest.mark.parametrize("change, why", [
    (dict(embedding_dim=np.array([8, 8])), "must be an integer"),          # was a TypeError traceback
    (dict(format_version=np.array([1])), "must be an integer"),
    (dict(format_version=np.str_("one")), "must be an integer"),           # was "invalid literal for int()"
    (dict(embeddings=np.array([["a"] * 8])), "embeddings must be floats"),  # was a TypeError from np.isfinite
    (dict(names=np.array([["x"]])), "names and sources 1-D strings"),      # was accepted as "['x']"
    (dict(embeddings=np.zeros((1, 8), np.float32)), "all zeros"),           # was search's message without the file
])
def test_hostile_fields_are_one_error_naming_the_file(tmp_path, change, why):
    path = tmp_path / "hostile.npz"
    fields = dict(format_version=np.int64(1), model_sha256=np.str_("a"), embedding_dim=np.int64(8),
                  embeddings=unit_rows(1), names=np.array(["x"]), sources=np.array(["s"]))
    np.savez(path, **{**fields, **change})
    with pytest.raises(ValueError, match=f"--gallery={path}: damaged gallery.*{why}"):
        load_gallery(str(path))
