"""make_dataset: determinism, exact resumption, correct elements, validation modes."""

import itertools
import logging

import numpy as np
import pytest
import tensorflow as tf

import fake_images
from lrfr_tf.data import folders, images
from lrfr_tf.data.pipeline import make_dataset


@pytest.fixture(scope="module")
def sample_faces(sample_dir):
    return folders.IdentityFolder(sample_dir / "celeba")  # 300 real faces, 30 identities


def _with_seed(features, seed):
    return {**features, "element_seed": seed, "noise": tf.random.stateless_uniform([], seed)}


def _with_batch_seed(batch, seed):
    return {**batch, "batch_seed": seed}


def _take(ds, n):
    return [{k: v.numpy() for k, v in b.items()} for b in itertools.islice(ds, n)]


def _assert_batches_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_same_seed_gives_identical_batches_and_another_seed_another_order(sample_faces):
    kw = dict(batch_size=16, map_fn=_with_seed, batch_map_fn=_with_batch_seed)
    run1 = _take(make_dataset(sample_faces, seed=7, **kw), 4)
    run2 = _take(make_dataset(sample_faces, seed=7, **kw), 4)
    for a, b in zip(run1, run2):
        _assert_batches_equal(a, b)
    other = _take(make_dataset(sample_faces, seed=8, **kw), 4)
    assert not np.array_equal(np.concatenate([b["index"] for b in run1]), np.concatenate([b["index"] for b in other]))
    assert run1[0]["image"].shape == (16, 112, 112, 3) and run1[0]["image"].dtype == np.float32
    assert run1[0]["label"].dtype == np.int32


@pytest.mark.parametrize("start_step", [3, 9])  # batch 9 (positions 288..319) straddles epochs 0 and 1
def test_start_step_reproduces_the_exact_next_batch(sample_faces, start_step):
    kw = dict(batch_size=32, seed=3, map_fn=_with_seed, batch_map_fn=_with_batch_seed)
    fresh = _take(make_dataset(sample_faces, **kw), start_step + 2)
    resumed = _take(make_dataset(sample_faces, start_step=start_step, **kw), 2)
    _assert_batches_equal(resumed[0], fresh[start_step])
    _assert_batches_equal(resumed[1], fresh[start_step + 1])


def test_every_epoch_is_a_new_permutation_with_unique_element_seeds(sample_faces):
    n = len(sample_faces)
    batches = _take(make_dataset(sample_faces, batch_size=20, seed=1, map_fn=_with_seed), 2 * n // 20)
    order = np.concatenate([b["index"] for b in batches])
    epoch0, epoch1 = order[:n], order[n:]
    assert sorted(epoch0) == list(range(n)) and sorted(epoch1) == list(range(n))
    assert not np.array_equal(epoch0, epoch1) and not np.array_equal(epoch0, np.arange(n))
    seeds = np.concatenate([b["element_seed"] for b in batches])
    assert seeds.shape == (2 * n, 2) and seeds.dtype == np.int64
    assert len({tuple(s) for s in seeds}) == 2 * n


def test_elements_are_the_right_images_and_labels(sample_faces):
    batch = _take(make_dataset(sample_faces, batch_size=8, seed=5), 1)[0]
    paths = [sample_faces.paths[i] for i in batch["index"]]
    np.testing.assert_array_equal(batch["image"], images.load_images(paths, progress=False).astype(np.float32))
    np.testing.assert_array_equal(batch["label"], sample_faces.labels[batch["index"]])


def test_degraded_elements_are_the_map_fn_of_the_decoded_file_at_their_position_seed(sample_faces):
    """Locating, reading, decoding and map_fn share one tf.data stage: element i of batch k is exactly
    map_fn(decoded file, fold_in(element key, k * B + i)), as computed eagerly outside tf.data."""
    from lrfr_tf.data import degrade
    from lrfr_tf.data.pipeline import fold_in, seed_keys

    views = degrade.parse("camera").map_fn()
    batch_size, seed = 8, 5
    batches = _take(make_dataset(sample_faces, batch_size=batch_size, seed=seed, map_fn=views, start_step=1), 2)
    _, element_key, _ = seed_keys(seed)
    for k, batch in enumerate(batches, start=1):
        clean = images.load_images([sample_faces.paths[i] for i in batch["index"]], progress=False).astype(np.float32)
        for i, image in enumerate(clean):
            expected = views({"image": tf.constant(image)}, fold_in(element_key, k * batch_size + i))
            np.testing.assert_array_equal(batch["lr"][i], expected["lr"].numpy())
            np.testing.assert_array_equal(batch["image"][i], image)


def test_single_unshuffled_pass_keeps_file_order_and_the_remainder(sample_faces):
    ds = make_dataset(sample_faces, batch_size=64, seed=0, shuffle=False, repeat=False, drop_remainder=False)
    batches = _take(ds, 100)
    assert [len(b["index"]) for b in batches] == [64, 64, 64, 64, 44]
    np.testing.assert_array_equal(np.concatenate([b["index"] for b in batches]), np.arange(300))
    assert ds.options().deterministic is True
    assert ds.options().autotune.enabled is False  # one call per core, no autotuning bookkeeping
    dropped = _take(make_dataset(sample_faces, batch_size=64, seed=0, repeat=False), 100)
    assert len(dropped) == 4


@pytest.fixture()
def tree_with_bad_files(tmp_path):
    root = fake_images.make_identity_tree(tmp_path / "ds", {"a": 3, "b": 3})
    bad = {
        "corrupt": fake_images.corrupt_jpeg(root / "a" / "corrupt.jpg"),
        "truncated": fake_images.truncated(root / "a" / "truncated.jpg"),
        "alpha": fake_images.write(root / "b" / "alpha.png", fake_images.rgba()),
        "size": fake_images.write(root / "b" / "small.jpg", fake_images.random_rgb(3, (96, 80))),
    }
    return root, bad


def test_strict_validation_names_every_bad_file(tree_with_bad_files):
    root, bad = tree_with_bad_files
    with pytest.raises(ValueError) as info:
        make_dataset(folders.IdentityFolder(root), batch_size=2, seed=0)
    message = str(info.value)
    assert "4 of 10 image file(s) failed validation" in message
    for problem, path in bad.items():
        assert str(path) in message
    assert "96x80 (HxW), expected 112x112" in message and "alpha channel" in message


def test_skip_validation_drops_and_logs_bad_files(tree_with_bad_files, caplog):
    root, bad = tree_with_bad_files
    source = folders.IdentityFolder(root)
    with caplog.at_level(logging.WARNING):
        ds = make_dataset(source, batch_size=2, seed=0, repeat=False, verify="skip")
    assert "4 of 10 image file(s) failed validation" in caplog.text
    assert all(str(p) in caplog.text for p in bad.values())
    seen = sorted(np.concatenate([b["index"] for b in _take(ds, 10)]).tolist())
    assert [source.paths[i] for i in seen] == sorted(str(p) for p in root.glob("*/*_000*.jpg"))


def test_without_validation_tf_errors_still_name_alpha_and_size_problems(tmp_path):
    root = fake_images.make_identity_tree(tmp_path / "ds", {"a": 1})
    fake_images.write(root / "a" / "zz_alpha.png", fake_images.rgba())
    ds = make_dataset(folders.IdentityFolder(root), batch_size=2, seed=0, shuffle=False, verify="none")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"zz_alpha\.png"):
        _take(ds, 1)
    (root / "a" / "zz_alpha.png").unlink()
    fake_images.write(root / "a" / "zz_small.jpg", fake_images.random_rgb(4, (64, 64)))
    ds = make_dataset(folders.IdentityFolder(root), batch_size=2, seed=0, shuffle=False, verify="none")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"zz_small\.jpg"):
        _take(ds, 1)


def test_resize_and_grayscale_inside_the_pipeline(tmp_path):
    root = tmp_path / "ds"
    small = fake_images.random_rgb(5, (64, 48))
    gray = fake_images.random_rgb(6)[:, :, 0]
    fake_images.write(root / "a" / "small.png", small)
    fake_images.write(root / "b" / "gray.png", gray)
    source = folders.IdentityFolder(root)
    with pytest.raises(ValueError, match=r"small\.png: image is 64x48"):
        make_dataset(source, batch_size=2, seed=0)
    batch = _take(make_dataset(source, batch_size=2, seed=0, shuffle=False, resize="bicubic"), 1)[0]
    expected = tf.clip_by_value(tf.image.resize(small.astype(np.float32), (112, 112), "bicubic", antialias=True), 0, 255)
    np.testing.assert_allclose(batch["image"][0], expected.numpy(), atol=1e-4)
    np.testing.assert_array_equal(batch["image"][1], np.repeat(gray[:, :, None], 3, axis=2).astype(np.float32))


@pytest.mark.parametrize("with_png", [False, True])
def test_gray_and_colour_jpegs_decode_alike_whether_or_not_all_files_are_jpeg(tmp_path, with_png):
    """An all-JPEG folder takes the one-op decoder, a mixed one the general decoder: same pixels."""
    root = tmp_path / "ds"
    paths = [fake_images.write(root / "a" / "colour.jpg", fake_images.random_rgb(7)),
             fake_images.write(root / "b" / "gray.jpg", fake_images.random_rgb(8)[:, :, 0])]
    if with_png:
        paths.append(fake_images.write(root / "c" / "colour.png", fake_images.random_rgb(9)))
    batch = _take(make_dataset(folders.IdentityFolder(root), batch_size=len(paths), seed=0, shuffle=False), 1)[0]
    np.testing.assert_array_equal(batch["image"], images.load_images([str(p) for p in paths], progress=False))


def test_bad_arguments(sample_faces):
    with pytest.raises(ValueError, match="verify"):
        make_dataset(sample_faces, batch_size=2, seed=0, verify="lenient")
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset(sample_faces, batch_size=0, seed=0)
    with pytest.raises(ValueError, match="resize"):
        make_dataset(sample_faces, batch_size=2, seed=0, resize="lanczos7")


def test_decoded_images_in_memory_give_the_same_stream_without_reading_files(sample_faces, tmp_path, monkeypatch):
    """decoded_cache_mb: the images are decoded once (as the pipeline decodes them) and every batch, across epochs
    and from a resumed step, equals the file-reading pipeline's; no file is read while iterating. Too small a
    budget, a resize or composited alpha keep reading files."""
    from lrfr_tf.data import pipeline

    import shutil

    kw = dict(batch_size=32, seed=3, map_fn=_with_seed, batch_map_fn=_with_batch_seed)
    files = _take(make_dataset(sample_faces, start_step=8, **kw), 3)  # crosses the epoch boundary (300 faces)
    copy = tmp_path / "faces"
    shutil.copytree(sample_faces.root, copy)
    cached = make_dataset(folders.IdentityFolder(copy), start_step=8, decoded_cache_mb=64, **kw)
    shutil.rmtree(copy)  # nothing is read any more
    for a, b in zip(files, _take(cached, 3)):
        _assert_batches_equal(a, b)
    decoded = pipeline.decoded_images(sample_faces.paths[:2], (112, 112), "error", ("jpeg",))
    np.testing.assert_array_equal(decoded[1], images.load_image(sample_faces.paths[1]).astype(np.uint8))
    calls = []
    monkeypatch.setattr(pipeline, "decoded_images", lambda *a: calls.append(a) or pytest.fail("decoded"))
    make_dataset(sample_faces, decoded_cache_mb=1, **kw)  # 300 faces are 11 MB
    make_dataset(sample_faces, decoded_cache_mb=64, resize="bicubic", **kw)
    make_dataset(sample_faces, decoded_cache_mb=64, alpha="composite", **kw)
    assert not calls
