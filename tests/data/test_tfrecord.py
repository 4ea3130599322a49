"""TFRecord packer and reader: same (image, label) as the folder reader; deterministic; CLI."""

import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fake_images
from lrfr_tf.data import folders, images, tfrecord
from lrfr_tf.data.pipeline import make_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def packed(sample_dir, tmp_path_factory):
    source = folders.IdentityFolder(sample_dir / "celeba")
    out = tmp_path_factory.mktemp("packed")
    meta = tfrecord.write_tfrecords(source, out, examples_per_shard=128, progress=False)
    return source, out, meta


def _take(ds, n):
    return [{k: v.numpy() for k, v in b.items()} for b in itertools.islice(ds, n)]


def test_pack_writes_shards_label_map_and_metadata(packed):
    source, out, meta = packed
    assert meta["num_examples"] == 300 and meta["shard_sizes"] == [100, 100, 100]
    assert meta["validation"]["formats"] == ["jpeg"]
    assert sorted(os.listdir(out)) == ["dataset.json", "label_map.json"] + [
        f"train-0000{i}-of-00003.tfrecord" for i in range(3)]
    records = tfrecord.TFRecordSource(out)
    assert len(records) == 300 and records.num_classes == 30 and records.image_formats == ("jpeg",)
    assert records.class_names == source.class_names and records.label_map == source.label_map
    with pytest.raises(ValueError, match="packed TFRecord dataset: read it with .*TFRecordSource"):
        folders.IdentityFolder(out)


def test_reader_gives_the_same_images_and_labels_as_the_folder_reader(packed):
    source, out, _ = packed
    ds = make_dataset(tfrecord.TFRecordSource(out), batch_size=64, seed=0, shuffle=False, repeat=False,
                      drop_remainder=False)
    batches = _take(ds, 10)
    index = np.concatenate([b["index"] for b in batches])
    assert sorted(index.tolist()) == list(range(300))
    expected = images.load_images([source.paths[i] for i in index], progress=False)
    np.testing.assert_array_equal(np.concatenate([b["image"] for b in batches]), expected.astype(np.float32))
    np.testing.assert_array_equal(np.concatenate([b["label"] for b in batches]), source.labels[index])
    assert not np.array_equal(index, np.arange(300))  # packed in a seeded random order


def test_shuffled_reading_is_deterministic_resumable_and_covers_each_epoch(packed):
    _, out, _ = packed
    source = tfrecord.TFRecordSource(out, shuffle_block=64)
    kw = dict(batch_size=25, seed=11, map_fn=lambda f, s: {**f, "seed": s})
    fresh = _take(make_dataset(source, **kw), 26)  # 2 epochs + 2 batches
    again = _take(make_dataset(source, **kw), 26)
    for a, b in zip(fresh, again):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    order = np.concatenate([b["index"] for b in fresh])
    assert sorted(order[:300]) == list(range(300)) and sorted(order[300:600]) == list(range(300))
    assert not np.array_equal(order[:300], order[300:600])
    for start in (5, 13):  # 13 starts epoch 1 at position 325
        resumed = _take(make_dataset(source, start_step=start, **kw), 2)
        for got, want in zip(resumed, fresh[start:start + 2]):
            for k in want:
                np.testing.assert_array_equal(got[k], want[k])
    other = _take(make_dataset(source, batch_size=25, seed=12), 12)
    assert not np.array_equal(np.concatenate([b["index"] for b in other]), order[:300])


def test_glob_pattern_and_missing_metadata(packed, tmp_path):
    _, out, _ = packed
    part = tfrecord.TFRecordSource(os.path.join(out, "train-0000[01]-*.tfrecord"))
    assert len(part) == 200 and len(part.files) == 2
    with pytest.raises(FileNotFoundError, match="no TFRecord files match"):
        tfrecord.TFRecordSource(tmp_path / "*.tfrecord")
    (tmp_path / "x.tfrecord").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"dataset\.json: missing"):
        tfrecord.TFRecordSource(tmp_path / "*.tfrecord")


def test_pack_refuses_bad_files_and_an_existing_output(tmp_path):
    root = fake_images.make_identity_tree(tmp_path / "src", {"a": 2, "b": 2})
    fake_images.truncated(root / "b" / "cut.jpg")
    with pytest.raises(ValueError, match=r"cut\.jpg: truncated JPEG"):
        tfrecord.write_tfrecords(folders.IdentityFolder(root), tmp_path / "out", progress=False)
    meta = tfrecord.write_tfrecords(folders.IdentityFolder(root), tmp_path / "ok", verify="skip", progress=False)
    assert meta["num_examples"] == 4 and meta["skipped_files"] == [str(root / "b" / "cut.jpg")]
    with pytest.raises(FileExistsError, match="already holds a packed dataset"):
        tfrecord.write_tfrecords(folders.IdentityFolder(root), tmp_path / "ok", progress=False)


@pytest.fixture()
def pack_flags():
    """Parse lrfr_tf.data.pack's absl flags in-process (a subprocess costs a TF import)."""
    from absl import flags

    from lrfr_tf.data import pack

    def parse(*args):
        flags.FLAGS.unparse_flags()
        return flags.FLAGS(["pack", *args])[1:]

    yield pack, parse
    flags.FLAGS.unparse_flags()


def test_pack_main_validates_and_skips_on_request(tmp_path, pack_flags, capsys):
    pack, parse = pack_flags
    root = fake_images.make_identity_tree(tmp_path / "src", {"x": 3, "y": 2})
    fake_images.write(root / "y" / "rgba.png", fake_images.rgba())
    argv = ["pack", str(root), str(tmp_path / "out")]
    parse()
    with pytest.raises(ValueError, match=r"rgba\.png: image has an alpha channel"):
        pack.main(argv)
    parse("--verify=skip", "--examples_per_shard=2")
    pack.main(argv)
    assert "packed 5 images of 2 identities into 3 shard(s)" in capsys.readouterr().out
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert meta["skipped_files"] == [str(root / "y" / "rgba.png")]
    assert len(tfrecord.TFRecordSource(tmp_path / "out")) == 5


@pytest.mark.slow
def test_pack_command_line(tmp_path):
    root = fake_images.make_identity_tree(tmp_path / "src", {"x": 3, "y": 2})
    fake_images.truncated(root / "y" / "cut.jpg")
    cmd = [sys.executable, "-m", "lrfr_tf.data.pack", str(root), str(tmp_path / "out")]
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), "CUDA_VISIBLE_DEVICES": ""}
    failed = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert failed.returncode == 2 and "cut.jpg: truncated JPEG" in failed.stderr
    assert "Traceback" not in failed.stderr
    done = subprocess.run(cmd + ["--verify=skip"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "packed 5 images of 2 identities into 1 shard(s)" in done.stdout
    assert len(tfrecord.TFRecordSource(tmp_path / "out")) == 5


@pytest.mark.slow
def test_packed_lfw_matches_the_folder_reader(lfw_dir, tmp_path):
    source = folders.IdentityFolder(lfw_dir / "aligned112")
    tfrecord.write_tfrecords(source, tmp_path / "lfw", progress=False)
    ds = make_dataset(tfrecord.TFRecordSource(tmp_path / "lfw"), batch_size=500, seed=0, shuffle=False,
                      repeat=False, drop_remainder=False)
    seen = np.zeros(len(source), bool)
    rng = np.random.default_rng(0)
    for batch in ds:
        index = batch["index"].numpy()
        seen[index] = True
        np.testing.assert_array_equal(batch["label"].numpy(), source.labels[index])
        pick = rng.integers(0, len(index), 20)  # decode check on a sample of every batch
        expected = images.load_images([source.paths[i] for i in index[pick]], progress=False)
        np.testing.assert_array_equal(batch["image"].numpy()[pick], expected.astype(np.float32))
    assert seen.all()
