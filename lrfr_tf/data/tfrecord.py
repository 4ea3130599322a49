"""Sharded TFRecords for large identity datasets: writer and reader.

Layout of a packed directory (``python -m lrfr_tf.data.pack SRC OUT``)::

    OUT/train-00000-of-00004.tfrecord ...   tf.train.Example records
    OUT/label_map.json                       the source's label map (folders.save_label_map)
    OUT/dataset.json                         counts, shard files, validation settings

Each record holds the image file's bytes exactly as stored (``image``), its
``label``, its ``path`` relative to the source root and its ``index`` in the
source's sorted listing, so decoding a record gives the same pixels and label
as the folder reader. Examples are written in a seeded random order.

Reading (``TFRecordSource.records``) cannot seek, so an epoch's order comes
from a per-epoch permutation of the shards, a deterministic interleave, and a
stateless shuffle within blocks of ``shuffle_block`` records; resuming skips
whole epochs by arithmetic and reads (without decoding) at most one epoch.
"""

from __future__ import annotations

import glob
import json
import math
import os
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import tensorflow as tf

from lrfr_tf.cli_errors import check_writable_dir
from lrfr_tf.data import folders
from lrfr_tf.data import images as images_lib
from lrfr_tf.data.pipeline import fold_in, verified_subset
from lrfr_tf.provenance import recorded_path

DATASET_FORMAT = "lrfr_tf.tfrecord"
METADATA_FILE = "dataset.json"
LABEL_MAP_FILE = "label_map.json"

_FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "path": tf.io.FixedLenFeature([], tf.string),
    "index": tf.io.FixedLenFeature([], tf.int64),
}


def serialize_example(contents: bytes, label: int, path: str, index: int) -> bytes:
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[contents])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
        "path": tf.train.Feature(bytes_list=tf.train.BytesList(value=[path.encode("utf-8")])),
        "index": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(index)])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse_example(serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
    """A serialized record -> {"contents", "label" int32, "path", "index" int64}."""
    f = tf.io.parse_single_example(serialized, _FEATURES)
    return {"contents": f["image"], "label": tf.cast(f["label"], tf.int32), "path": f["path"], "index": f["index"]}


def write_tfrecords(
    source: folders.IdentityFolder,
    out_dir: Union[str, os.PathLike],
    examples_per_shard: int = 10000,
    seed: int = 0,
    verify: str = "strict",
    size=(112, 112),
    alpha: str = "error",
    prefix: str = "train",
    progress: bool = True,
) -> Dict:
    """Pack ``source`` into sharded TFRecords under ``out_dir``; returns the metadata written.

    ``verify``: "strict" decode-checks every file first (``images.check_images`` with
    ``size``/``alpha``) and raises listing the bad ones; "header" does the same
    from the headers only (``images.scan_images``); "skip" decode-checks and leaves
    bad files out, recording them in the metadata; "none" packs everything.
    """
    out_dir = os.fspath(out_dir)
    if examples_per_shard <= 0:
        raise ValueError(f"examples_per_shard must be > 0, got {examples_per_shard}")
    if os.path.exists(os.path.join(out_dir, METADATA_FILE)):
        raise FileExistsError(f"{out_dir}: already holds a packed dataset ({METADATA_FILE}); choose another OUT")
    check_writable_dir(out_dir, "OUT")  # before the (long) validation
    keep, formats = verified_subset(source.paths, verify, size, alpha)
    skipped = sorted(set(source.paths) - {source.paths[i] for i in keep})
    order = keep[np.random.default_rng(seed).permutation(len(keep))]
    num_shards = max(1, math.ceil(len(order) / examples_per_shard))
    relative = source.relative_paths()
    shards, shard_sizes = [], []
    bar = None
    if progress:
        from lrfr_tf.cli_logging import progress_bar

        bar = progress_bar(total=len(order), desc=f"packing {out_dir}", unit="img")
    for s, chunk in enumerate(np.array_split(order, num_shards)):
        name = f"{prefix}-{s:05d}-of-{num_shards:05d}.tfrecord"
        with tf.io.TFRecordWriter(os.path.join(out_dir, name)) as writer:
            for i in chunk:
                writer.write(serialize_example(images_lib.read_file(source.paths[i]), source.labels[i], relative[i], i))
                if bar is not None:
                    bar.update(1)
        shards.append(name)
        shard_sizes.append(int(len(chunk)))
    if bar is not None:
        bar.close()
    folders.save_label_map(source.class_names, os.path.join(out_dir, LABEL_MAP_FILE))
    metadata = {
        "format": DATASET_FORMAT,
        "version": 1,
        "source": recorded_path(source.root),
        "num_examples": int(len(order)),
        "num_classes": source.num_classes,
        "shards": shards,
        "shard_sizes": shard_sizes,
        "seed": seed,
        "validation": {"verify": verify, "size": None if size is None else list(images_lib.size_hw(size)), "alpha": alpha,
                       "formats": None if formats is None else list(formats)},
        "skipped_files": skipped,
        "skipped_folders": list(getattr(source, "skipped_folders", [])),
    }
    with open(os.path.join(out_dir, METADATA_FILE), "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return metadata


def read_metadata(meta_path: str) -> Dict:
    """Read and check a packed dataset's ``dataset.json``; errors (ValueError, FileNotFoundError)
    name the file and the field."""
    try:
        with open(meta_path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{meta_path}: missing; pack datasets with `python -m lrfr_tf.data.pack`") from None
    try:
        meta = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{meta_path}: not UTF-8 JSON (byte 0x{raw[e.start]:02x} at offset {e.start})") from None
    except (json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{meta_path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != DATASET_FORMAT:
        raise ValueError(f"{meta_path}: not a lrfr_tf TFRecord dataset (expected a JSON object with "
                         f"\"format\": {DATASET_FORMAT!r})")

    def field(name, ok, expected):
        if name not in meta:
            raise ValueError(f"{meta_path}: field {name!r} is missing")
        if not ok(meta[name]):
            raise ValueError(f"{meta_path}: field {name!r} must be {expected}, got {meta[name]!r:.80}")

    def is_count(v):
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**40

    field("shards", lambda v: isinstance(v, list) and v and all(
        isinstance(n, str) and n and os.path.basename(n) == n and n not in (".", "..") for n in v) and len(set(v)) == len(v),
        "a non-empty list of distinct shard file names")
    field("shard_sizes", lambda v: isinstance(v, list) and len(v) == len(meta["shards"]) and all(is_count(n) for n in v),
          f"a list of {len(meta['shards'])} example counts")
    if "num_classes" in meta:
        field("num_classes", is_count, "a count")
    validation = meta.get("validation", {})
    if not isinstance(validation, dict):
        raise ValueError(f"{meta_path}: field 'validation' must be an object, got {validation!r:.80}")
    formats = validation.get("formats")
    if formats is not None and not (isinstance(formats, list) and all(f in ("jpeg", "png") for f in formats)):
        raise ValueError(f"{meta_path}: validation.formats must be a list of 'jpeg'/'png', got {formats!r:.80}")
    return meta


class TFRecordSource:
    """A packed dataset for ``pipeline.make_dataset``.

    ``pattern``: the packed directory, or a glob of its shard files (the
    directory of the matches must hold ``dataset.json`` and ``label_map.json``).
    Attributes: files, metadata, class_names, label_map, num_classes, len().
    """

    def __init__(self, pattern: Union[str, os.PathLike], shuffle_block: int = 8192, cycle_length: int = 16):
        pattern = os.fspath(pattern)
        if os.path.isdir(pattern):
            directory, files = pattern, None
        else:
            files = sorted(glob.glob(pattern))
            if not files:
                raise FileNotFoundError(f"{pattern}: no TFRecord files match")
            directories = {os.path.dirname(f) for f in files}
            if len(directories) != 1:
                raise ValueError(f"{pattern}: matches shards in several directories: {sorted(directories)}")
            directory = directories.pop()
        meta_path = os.path.join(directory, METADATA_FILE)
        self.metadata = read_metadata(meta_path)
        sizes = dict(zip(self.metadata["shards"], self.metadata["shard_sizes"]))
        names = self.metadata["shards"] if files is None else [os.path.basename(f) for f in files]
        unknown = [n for n in names if n not in sizes]
        if unknown:
            raise ValueError(f"{meta_path}: does not list shard(s) {unknown[:3]}")
        self.files: List[str] = [os.path.join(directory, n) for n in names]
        missing = [f for f in self.files if not os.path.isfile(f)]
        if missing:
            raise FileNotFoundError(f"{directory}: shard(s) listed in {METADATA_FILE} are missing: {missing[:3]}")
        self._num_examples = sum(sizes[n] for n in names)
        if self._num_examples == 0:
            raise ValueError(f"{meta_path}: the selected shard(s) hold no examples")
        self.class_names = folders.load_label_map(os.path.join(directory, LABEL_MAP_FILE))
        declared = self.metadata.get("num_classes", len(self.class_names))
        if declared != len(self.class_names):
            raise ValueError(f"{meta_path}: num_classes {declared!r} but {LABEL_MAP_FILE} has {len(self.class_names)} names")
        self.label_map = {n: i for i, n in enumerate(self.class_names)}
        self.shuffle_block = int(shuffle_block)
        self.cycle_length = int(cycle_length)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_formats(self) -> Optional[Tuple[str, ...]]:
        """Formats of the packed images as verified when packing (None: not verified)."""
        formats = self.metadata.get("validation", {}).get("formats")
        return None if not formats else tuple(sorted(set(formats)))

    def __len__(self) -> int:
        return self._num_examples

    def __repr__(self) -> str:
        return f"TFRecordSource({len(self.files)} shards: {len(self)} images, {self.num_classes} identities)"

    def _epoch(self, epoch: tf.Tensor, order_key: tf.Tensor, shuffle: bool) -> tf.data.Dataset:
        files = tf.constant(self.files)
        if not shuffle:
            return tf.data.TFRecordDataset(files)
        key = fold_in(order_key, epoch)
        shard_keys = tf.random.experimental.stateless_split(key, 2)
        files = tf.random.experimental.stateless_shuffle(files, shard_keys[0])
        records = tf.data.Dataset.from_tensor_slices(files).interleave(
            tf.data.TFRecordDataset, cycle_length=min(self.cycle_length, len(self.files)), block_length=1,
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
        )
        return (
            records.batch(self.shuffle_block)
            .enumerate()
            .map(lambda block, recs: tf.random.experimental.stateless_shuffle(recs, fold_in(shard_keys[1], block)))
            .unbatch()
        )

    def records(self, order_key: tf.Tensor, shuffle: bool, repeat: bool, start_position: int) -> tf.data.Dataset:
        """Raw elements {position, index, label, path, contents} from ``start_position`` on."""
        n = len(self)
        first_epoch, skip = divmod(int(start_position), n)
        if not repeat and first_epoch > 0:
            first_epoch, skip = 0, n  # past the single epoch: empty
        epochs = tf.data.Dataset.range(first_epoch, first_epoch + 1 if not repeat else np.iinfo(np.int64).max)
        serialized = epochs.flat_map(lambda e: self._epoch(e, order_key, shuffle)).skip(skip)

        def parse(position, record):
            return {"position": position, **parse_example(record)}

        return serialized.enumerate(start=start_position).map(
            parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
