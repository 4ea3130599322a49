"""The tf.data input pipeline: index -> read -> decode -> map_fn -> batch -> batch_map_fn.

Determinism. Elements are numbered by their *position* in the infinite stream
(``position = step * batch_size + i``). For a folder source, position p is
epoch ``p // N`` and slot ``p % N``; the slot is mapped to a file by
``tf.random.experimental.index_shuffle`` keyed on (seed, epoch), a full
stateless permutation per epoch. Every element gets its own seed
``stateless_fold_in(element_key, position)`` and every batch
``stateless_fold_in(batch_key, step)``, both derived from ``seed``; all maps
run with ``deterministic=True``. So the same seed gives the same batches, and
``start_step=k`` starts the position counter at ``k * batch_size`` (before any
file is read or decoded) and yields exactly batch k of a fresh run.

Validation. TF's decode errors do not name files, so folder sources are
checked up front (``verify``):

* ``"strict"`` (default): every file is fully decoded in parallel worker
  processes (``images.check_images``), with libjpeg/libpng warnings treated as
  errors, and any bad file raises a ValueError listing every bad file with a
  one-line reason. A file that passes decodes in TF to the same pixels.
* ``"header"``: the fast header-only scan (``images.scan_images``: signature,
  completeness, pixel limit, channels, alpha, size); it misses damage inside
  the compressed data (a corrupt PNG IDAT, zeroed or truncated JPEG scan data).
* ``"skip"``: the full decode check, dropping bad files (count and names logged).
* ``"none"``: no check.

TFRecord sources are validated when packed. If a decode error still happens
while training (a file changed after the check, ``verify="none"``/``"header"``),
``undecodable_files(source, batch_size, seed, step, ...)`` recomputes which files
make up that batch (the stream is a pure function of the arguments) and names
the ones that fail the decode check.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from lrfr_tf.data import images as images_lib

logger = logging.getLogger(__name__)

VERIFY_MODES = ("strict", "header", "skip", "none")

# The indices kept by the last check of a file list, so that ``undecodable_files`` rebuilds
# exactly the stream ``make_dataset`` built (with "skip" the kept files define the positions).
_KEPT: Dict[Tuple, np.ndarray] = {}

Features = Dict[str, tf.Tensor]
MapFn = Callable[[Features, tf.Tensor], Features]


def seed_keys(seed: Union[int, tf.Tensor]) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """``seed`` -> independent int64 [2] keys (order, element, batch)."""
    base = tf.stack([tf.cast(seed, tf.int64), tf.constant(0x1F2E3D4C, tf.int64)])
    keys = tf.random.experimental.stateless_split(base, 3)
    return keys[0], keys[1], keys[2]


def fold_in(key: tf.Tensor, data) -> tf.Tensor:
    """A [2] int64 seed unique to (key, data)."""
    return tf.random.experimental.stateless_fold_in(key, tf.cast(data, tf.int64))


def _locator(n: int, indices_t, labels_t, paths_t, order_key: tf.Tensor, shuffle: bool):
    """position -> {position, index, label, path}: the file at a stream position."""

    def locate(position):
        epoch, slot = position // n, position % n
        if shuffle:
            slot = tf.random.experimental.index_shuffle(slot, fold_in(order_key, epoch), tf.constant(n - 1, tf.int64))
        return {"position": position, "slot": slot, "index": tf.gather(indices_t, slot),
                "label": tf.gather(labels_t, slot), "path": tf.gather(paths_t, slot)}

    return locate


def file_records(
    paths: Sequence[str],
    labels: np.ndarray,
    indices: np.ndarray,
    order_key: tf.Tensor,
    shuffle: bool,
    repeat: bool,
    start_position: int,
    element_fn: Optional[Callable[[Features], Features]] = None,
    read: bool = True,
) -> tf.data.Dataset:
    """Raw elements {position, slot, index, label, path, contents} of files, permuted per epoch (``slot``: the
    file's position in ``paths``; no ``contents`` with ``read=False``, e.g. when the decoded images are in memory).

    ``element_fn(record)`` (e.g. decode and degrade) runs in the same parallel map as locating and
    reading: one tf.data stage per element instead of three (each costs ~15 CPU us per element).
    """
    n = len(paths)
    paths_t = tf.constant(list(paths), tf.string)
    labels_t = tf.constant(np.asarray(labels, np.int32))
    indices_t = tf.constant(np.asarray(indices, np.int64))
    if repeat:
        positions = tf.data.Dataset.counter(start=start_position, dtype=tf.int64)
    else:
        positions = tf.data.Dataset.range(start_position, n, dtype=tf.int64)

    locate = _locator(n, indices_t, labels_t, paths_t, order_key, shuffle)

    def read_one(position):
        record = locate(position)
        if read:
            record = {**record, "contents": tf.io.read_file(record["path"])}
        return record if element_fn is None else element_fn(record)

    return positions.map(read_one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def decoded_images(paths: Sequence[str], image_size: Tuple[int, int], alpha: str,
                   formats: Optional[Tuple[str, ...]]) -> np.ndarray:
    """uint8 [N, H, W, 3]: every file decoded as the pipeline decodes it (``_decode``; sizes already checked)."""
    import time

    started = time.perf_counter()
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(list(paths), tf.string)).map(
        lambda path: tf.cast(_decode({"contents": tf.io.read_file(path), "path": path}, image_size, None, alpha,
                                     formats, True), tf.uint8),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(256)
    out = np.empty((len(paths), image_size[0], image_size[1], 3), np.uint8)
    done = 0
    for batch in ds.as_numpy_iterator():
        out[done:done + len(batch)] = batch
        done += len(batch)
    logger.info("decoded %d images into memory (%.0f MB) in %.1f s", len(paths), out.nbytes / 2**20,
                time.perf_counter() - started)
    return out


def check_verify_mode(verify: str) -> None:
    if verify not in VERIFY_MODES:
        raise ValueError(f"verify must be one of {VERIFY_MODES}, got {verify!r}")


def _kept_key(paths: Sequence[str], size, alpha: str) -> Tuple:
    return (len(paths), hash(tuple(paths)), None if size is None else images_lib.size_hw(size), alpha)


def verified_subset(paths: Sequence[str], verify: str, size, alpha: str,
                    progress: bool = True) -> Tuple[np.ndarray, Optional[Tuple[str, ...]]]:
    """(indices of the files to use, sorted formats of those files or None if not scanned) after
    validation mode ``verify`` (see module docstring)."""
    check_verify_mode(verify)
    paths = list(paths)
    keep = np.arange(len(paths))
    if verify == "none":
        return keep, None
    if verify == "header":
        scan = images_lib.scan_images(paths, size=size, alpha=alpha, progress=progress and len(paths) > 1000)
    else:
        scan = images_lib.check_images(paths, size=size, alpha=alpha, progress=progress and len(paths) > 1000)
    formats = tuple(sorted(scan.formats))
    if not scan.ok:
        summary = scan.summary()
        if len(scan.errors) > 100:  # the message shows 100; every one goes to a file
            import tempfile

            with tempfile.NamedTemporaryFile("w", prefix="lrfr_bad_images_", suffix=".txt", delete=False,
                                             encoding="utf-8") as f:
                f.write("\n".join(scan.errors[p] for p in sorted(scan.errors)) + "\n")
            summary += f"\n(all {len(scan.errors)} listed in {f.name})"
        if verify in ("strict", "header"):
            raise ValueError(summary + "\n(fix or remove them, or pass verify='skip' to skip bad files)")
        logger.warning("skipping bad images: %s", summary)
        keep = np.asarray([i for i, p in enumerate(paths) if p not in scan.errors], np.int64)
        if keep.size == 0:
            raise ValueError(f"all {len(paths)} image files failed validation: {scan.summary(limit=5)}")
    if verify == "skip":
        _KEPT[_kept_key(paths, size, alpha)] = keep
    return keep, formats


def _decode(record: Features, image_size: Tuple[int, int], resize: Optional[str], alpha: str,
            formats: Optional[Tuple[str, ...]], size_checked: bool) -> tf.Tensor:
    """Decode one record to float32 [H, W, 3] of ``image_size``. ``formats`` and ``size_checked``
    say what a scan has already verified, so that the per-image graph skips those checks."""
    image = images_lib.decode_image(record["contents"], alpha=alpha, source=record["path"],
                                    jpeg_only=formats == ("jpeg",))
    if size_checked:
        return tf.ensure_shape(image, [image_size[0], image_size[1], 3])
    hw = tf.shape(image)[:2]
    target = tf.constant(image_size, tf.int32)
    same = tf.reduce_all(tf.equal(hw, target))
    if resize is None:
        check = tf.debugging.Assert(same, [record["path"], "has size (HxW)", hw, "expected", target,
                                           "(pass resize=<method> to resize)"])
        with tf.control_dependencies([check]):
            image = tf.identity(image)
    else:
        image = tf.cond(
            same,
            lambda: image,
            lambda: tf.clip_by_value(tf.image.resize(image, target, method=resize, antialias=True), 0.0, 255.0),
        )
    return tf.ensure_shape(image, [image_size[0], image_size[1], 3])


def make_dataset(
    source,
    batch_size: int,
    seed: int,
    map_fn: Optional[MapFn] = None,
    batch_map_fn: Optional[MapFn] = None,
    shuffle: bool = True,
    repeat: bool = True,
    start_step: int = 0,
    drop_remainder: bool = True,
    image_size: Union[int, Tuple[int, int]] = (112, 112),
    resize: Optional[str] = None,
    alpha: str = "error",
    verify: str = "strict",
    decoded_cache_mb: float = 0,
) -> tf.data.Dataset:
    """Batches {"image": float32 [B,H,W,3] in [0,255] RGB, "label": int32 [B], "index": int64 [B]}.

    Args:
      source: an ``IdentityFolder`` (or anything with ``paths`` and ``labels``)
        or a ``tfrecord.TFRecordSource``.
      seed: determines order, element seeds and batch seeds.
      map_fn: ``map_fn(features, seed) -> features`` per element; ``seed`` is an
        int64 [2] tensor unique to (seed, epoch, index).
      batch_map_fn: ``batch_map_fn(batch, seed) -> batch`` after batching, with
        a per-batch seed.
      shuffle: a new stateless permutation every epoch (False: file order).
      repeat: loop forever (False: one epoch).
      start_step: resume at this batch (skipped at the index level, nothing decoded).
      image_size: (height, width) every image must have; a different size is an
        error naming the file unless ``resize`` names a tf.image method.
      alpha: "error" | "drop" | "composite" (see ``images``).
      verify: "strict" (default: full decode check, bad files are an error) |
        "header" (header-only scan) | "skip" (decode check, bad files left out) |
        "none" (see module docstring).
      decoded_cache_mb: decode a folder's images once into memory (uint8) when they fit in this many MB, every
        file has the size ``image_size`` (checked by the scan, no resize), every file passed the full decode
        check (``verify`` "strict" or "skip": a decode error here would name no file) and alpha is not composited: the
        same pixels every epoch without reading or decoding a file again (JPEG decoding is about a third of
        the pipeline's CPU per image). 0: off.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    if start_step < 0:
        raise ValueError(f"start_step must be >= 0, got {start_step}")
    image_size = images_lib.size_hw(image_size)
    images_lib.check_alpha_mode(alpha)
    check_verify_mode(verify)
    if resize is not None and resize not in images_lib.RESIZE_METHODS:
        raise ValueError(f"resize must be one of {images_lib.RESIZE_METHODS} or None, got {resize!r}")
    order_key, element_key, batch_key = seed_keys(seed)
    start_position = start_step * batch_size

    if hasattr(source, "records"):  # TFRecordSource: validated when packed
        records = source.records(order_key, shuffle=shuffle, repeat=repeat, start_position=start_position)
        formats, size_checked = source.image_formats, False
    else:
        paths = list(source.paths)
        keep, formats = verified_subset(paths, verify, None if resize else image_size, alpha)
        size_checked = formats is not None and resize is None

    cached = None
    if (not hasattr(source, "records") and decoded_cache_mb > 0 and size_checked and alpha != "composite"
            and verify in ("strict", "skip")):  # every file fully decode-checked: decoding them here cannot fail
        kept_paths = [paths[i] for i in keep]
        if len(kept_paths) * image_size[0] * image_size[1] * 3 <= decoded_cache_mb * 2**20:
            cached = tf.constant(decoded_images(kept_paths, image_size, alpha, formats))

    def element(record):
        if cached is not None:
            image = tf.cast(tf.gather(cached, record["slot"]), tf.float32)
        else:
            image = _decode(record, image_size, resize, alpha, formats, size_checked)
        features = {"image": image, "label": record["label"], "index": record["index"]}
        if map_fn is not None:
            features = map_fn(features, fold_in(element_key, record["position"]))
        return features

    if hasattr(source, "records"):
        ds = records.map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:  # locate, read, decode and map_fn in one parallel stage
        ds = file_records([paths[i] for i in keep], np.asarray(source.labels)[keep], keep, order_key,
                          shuffle, repeat, start_position, element_fn=element, read=cached is None)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if batch_map_fn is not None:
        ds = ds.enumerate(start=start_step).map(
            lambda step, batch: batch_map_fn(batch, fold_in(batch_key, step)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    options = tf.data.Options()
    options.deterministic = True
    # No autotuning: on these CPU-bound maps it settles on one call per core (what AUTOTUNE means without it)
    # and its bookkeeping cost ~6% of the CPU per image (camera preset, 2 cores: 678 -> 635 us).
    options.autotune.enabled = False
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def batch_files(source, batch_size: int, seed: int, step: int, image_size=(112, 112), verify: str = "strict",
                resize: Optional[str] = None, alpha: str = "error", shuffle: bool = True,
                repeat: bool = True) -> list:
    """The elements of batch ``step`` of ``make_dataset(source, batch_size, seed, ...)`` as
    [(name, path or bytes)]: file paths for a folder source, (``path`` field, encoded bytes) of
    the records for a ``TFRecordSource``. Nothing is decoded."""
    if batch_size <= 0 or step < 0:
        raise ValueError(f"need batch_size > 0 and step >= 0, got batch_size={batch_size}, step={step}")
    check_verify_mode(verify)
    order_key, _, _ = seed_keys(seed)
    start = int(step) * int(batch_size)
    if hasattr(source, "records"):
        ds = source.records(order_key, shuffle=shuffle, repeat=repeat, start_position=start).take(batch_size)
        return [(r["path"].decode("utf-8", "replace"), r["contents"]) for r in ds.as_numpy_iterator()]
    paths = list(source.paths)
    size = None if resize else images_lib.size_hw(image_size)
    keep = np.arange(len(paths))
    if verify == "skip":
        keep = _KEPT.get(_kept_key(paths, size, alpha))
        if keep is None:  # not checked in this process: check again (same answer unless files changed)
            keep, _ = verified_subset(paths, verify, size, alpha)
    n = len(keep)
    stop = start + batch_size if repeat else min(start + batch_size, n)
    if stop <= start:
        return []
    locate = _locator(n, tf.constant(np.asarray(keep, np.int64)), tf.zeros([n], tf.int32),
                      tf.constant([paths[i] for i in keep], tf.string), order_key, shuffle)
    ds = tf.data.Dataset.range(start, stop, dtype=tf.int64).map(locate)
    return [(p.decode("utf-8"), p.decode("utf-8")) for p in ds.map(lambda r: r["path"]).as_numpy_iterator()]


def undecodable_files(source, batch_size: int, seed: int, step: int, image_size=(112, 112), verify: str = "strict",
                      resize: Optional[str] = None, alpha: str = "error", shuffle: bool = True,
                      repeat: bool = True) -> list:
    """[(path, reason)] of the files of batch ``step`` that fail the decode check.

    Call it with the arguments given to ``make_dataset`` when iterating raised
    ``tf.errors.InvalidArgumentError`` at batch ``step`` (counted from 0 of the
    stream, i.e. including ``start_step``): tf.data's decode errors cannot name
    the file, this does. The batch's files are recomputed from (seed, step) (see
    the module docstring) and decode-checked like ``verify="strict"``
    (``images.check_images``); for a ``TFRecordSource`` the records' bytes are
    checked and named by their ``path`` field. A shard that cannot be read is
    reported as (shard pattern, reason). Empty list: every file of the batch
    decodes cleanly.
    """
    size = None if resize else images_lib.size_hw(image_size)
    try:
        items = batch_files(source, batch_size, seed, step, image_size, verify, resize, alpha, shuffle, repeat)
    except tf.errors.OpError as e:  # a damaged TFRecord shard
        where = ", ".join(getattr(source, "files", [])[:3]) or repr(source)
        return [(where, f"cannot read the records of batch {step}: {e.message.splitlines()[0] if e.message else e}")]
    if not items:
        return []
    if hasattr(source, "records"):
        root = source.metadata.get("source", "")
        root = root if isinstance(root, str) else ""
        payload = [(name, data) for name, data in items]
    else:
        root, payload = "", [name for name, _ in items]
    seen, result = set(), []
    scan = images_lib.check_images(payload, size=size, alpha=alpha, num_workers=1 if len(payload) > 1 else 0)
    for name, _ in items:
        if name in scan.errors and name not in seen:
            seen.add(name)
            result.append((os.path.join(root, name) if root else name, scan.errors[name]))
    return result
