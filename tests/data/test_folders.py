"""IdentityFolder: counts on real data, stable label maps, empty folders."""

import json
import logging

import numpy as np
import pytest

import fake_images
from lrfr_tf.data import folders


def test_lfw_has_13233_images_of_5749_identities(lfw_dir):
    ds = folders.IdentityFolder(lfw_dir / "aligned112")
    assert len(ds) == 13233 and ds.num_classes == 5749
    assert ds.labels.shape == (13233,) and ds.labels.dtype == np.int32
    assert np.bincount(ds.labels).min() >= 1
    assert ds.class_names == sorted(ds.class_names)
    george = ds.label_map["George_W_Bush"]
    assert int((ds.labels == george).sum()) == 530  # the largest LFW identity
    i = ds.relative_paths().index("Abel_Pacheco/Abel_Pacheco_0001.jpg")
    assert ds.class_names[ds.labels[i]] == "Abel_Pacheco"


def test_celeba_has_6209_images_of_299_identities(celeba_dir):
    ds = folders.IdentityFolder(celeba_dir)
    assert (len(ds), ds.num_classes) == (6209, 299)


def test_labels_follow_sorted_names_not_creation_order(tmp_path):
    root = fake_images.make_identity_tree(tmp_path / "ds", {"zed": 2, "amy": 3, "Bob": 1})
    ds = folders.IdentityFolder(root)
    assert ds.class_names == ["Bob", "amy", "zed"]
    assert ds.labels.tolist() == [0, 1, 1, 1, 2, 2]
    assert ds.relative_paths() == ["Bob/Bob_0000.jpg", "amy/amy_0000.jpg", "amy/amy_0001.jpg",
                                   "amy/amy_0002.jpg", "zed/zed_0000.jpg", "zed/zed_0001.jpg"]


def test_label_map_json_roundtrip_and_reuse_on_another_split(tmp_path):
    train = folders.IdentityFolder(fake_images.make_identity_tree(tmp_path / "train", {"a": 1, "b": 1, "c": 2}))
    map_file = tmp_path / "labels.json"
    train.save_label_map(map_file)
    assert json.loads(map_file.read_text())["class_names"] == ["a", "b", "c"]
    assert folders.load_label_map(map_file) == ["a", "b", "c"]
    # A split with only "c" keeps c's training id and the training class count.
    test = folders.IdentityFolder(fake_images.make_identity_tree(tmp_path / "test", {"c": 2}, seed=9), label_map=map_file)
    assert test.labels.tolist() == [2, 2] and test.num_classes == 3
    assert folders.IdentityFolder(tmp_path / "test", label_map={"a": 0, "c": 1}).labels.tolist() == [1, 1]


def test_folder_missing_from_the_label_map_is_an_error(tmp_path):
    root = fake_images.make_identity_tree(tmp_path / "ds", {"a": 1, "stranger": 1})
    with pytest.raises(ValueError, match="stranger"):
        folders.IdentityFolder(root, label_map=["a"])


def test_bad_label_map_files_are_named(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"class_names": ["a", "a"], "format": "lrfr_tf.label_map"}')
    with pytest.raises(ValueError, match=r"bad\.json: class_names must be distinct"):
        folders.load_label_map(bad)
    bad.write_text("not json")
    with pytest.raises(ValueError, match=r"bad\.json: not a JSON label map"):
        folders.load_label_map(bad)


def test_empty_identity_folder_is_an_error_naming_it(tmp_path):
    root = fake_images.make_identity_tree(tmp_path / "ds", {"a": 2, "b": 1})
    (root / "hollow").mkdir()
    (root / "hollow" / "notes.txt").write_text("no faces here")
    with pytest.raises(ValueError, match=r"hollow: identity folder has no image files"):
        folders.IdentityFolder(root)


def test_empty_identity_folder_is_skipped_and_counted_on_request(tmp_path, caplog):
    root = fake_images.make_identity_tree(tmp_path / "ds", {"a": 2, "c": 1})
    (root / "b").mkdir()
    with caplog.at_level(logging.WARNING):
        ds = folders.IdentityFolder(root, empty="skip")
    assert [p.rsplit("/", 1)[-1] for p in ds.skipped_folders] == ["b"]
    assert "skipped 1 empty identity folder" in caplog.text
    # The skipped identity keeps its place in the sorted label map.
    assert ds.class_names == ["a", "b", "c"] and ds.labels.tolist() == [0, 0, 2]


def test_non_image_files_are_ignored_and_counted(tmp_path):
    root = fake_images.make_identity_tree(tmp_path / "ds", {"a": 2})
    (root / "a" / "Thumbs.db").write_bytes(b"x")
    (root / "a" / ".hidden.jpg").write_bytes(b"x")
    ds = folders.IdentityFolder(root)
    assert len(ds) == 2 and [p.rsplit("/", 1)[-1] for p in ds.ignored_files] == ["Thumbs.db"]


def test_missing_root_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        folders.IdentityFolder(tmp_path / "nowhere")
