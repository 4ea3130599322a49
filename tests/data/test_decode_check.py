"""The decode check (verify="strict"): damage inside the compressed data that the header scan
cannot see, the pixel limit (decompression bombs), and naming the file of a failed batch."""

import pathlib
import resource
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
import tensorflow as tf

from lrfr_tf.data import folders, images, pipeline, tfrecord
from tests.data.fake_images import encode, make_identity_tree, random_rgb

LFW = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lfw" / "aligned112"


def _scan_start(data: bytes) -> int:
    sos = data.find(b"\xff\xda")
    return sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")


def zeroed_jpeg(seed=1) -> bytes:
    """64 zero bytes in the middle of the scan data: no marker damage, a libjpeg warning only."""
    data = encode(random_rgb(seed))
    mid = (_scan_start(data) + len(data)) // 2
    return data[:mid] + b"\x00" * 64 + data[mid + 64 :]


def truncated_eoi_jpeg(seed=1) -> bytes:
    """Cut at 60% and an end-of-image marker appended: complete-looking, pixels wrong."""
    data = encode(random_rgb(seed))
    return data[: int(len(data) * 0.6)] + b"\xff\xd9"


def bad_idat_png(seed=1) -> bytes:
    """Compressed data damaged inside IDAT, CRC recomputed: headers and IEND intact."""
    data = bytearray(encode(random_rgb(seed), ".png"))
    i = data.find(b"IDAT")
    n = int.from_bytes(data[i - 4 : i], "big")
    for k in range(i + 4 + n // 2, i + 4 + n // 2 + 32):
        data[k] ^= 0x55
    data[i + 4 + n : i + 8 + n] = struct.pack(">I", zlib.crc32(bytes(data[i : i + 4 + n])))
    return bytes(data)


@pytest.mark.parametrize("make, ext, reason", [
    (zeroed_jpeg, ".jpg", "Corrupt JPEG data"),
    (truncated_eoi_jpeg, ".jpg", "premature end of data segment"),
    (bad_idat_png, ".png", "cannot be decoded"),
])
def test_decode_check_catches_what_the_header_scan_misses(tmp_path, make, ext, reason):
    bad = tmp_path / f"bad{ext}"
    bad.write_bytes(make())
    good = tmp_path / "good.jpg"
    good.write_bytes(encode(random_rgb(3)))
    assert images.scan_images([str(bad), str(good)], size=112).ok  # the old check passes it
    result = images.check_images([str(bad), str(good)], size=112)
    assert list(result.errors) == [str(bad)]
    message = result.errors[str(bad)]
    assert message.startswith(f"{bad}: corrupt") and reason in message and "\n" not in message
    assert result.formats == {"jpeg": 1}
    # the same answer in this process and from bytes
    with pytest.raises(ValueError, match=reason):
        images.check_image_bytes(bad.read_bytes(), str(bad), size=112)


def test_zeroed_and_truncated_jpegs_would_train_on_wrong_pixels():
    """Why they must be errors: TF decodes them without an error, to different pixels."""
    good = encode(random_rgb(1))
    reference = tf.io.decode_jpeg(good, dct_method="INTEGER_ACCURATE").numpy().astype(int)
    for bad in (zeroed_jpeg(), truncated_eoi_jpeg()):
        pixels = tf.io.decode_jpeg(bad, dct_method="INTEGER_ACCURATE").numpy().astype(int)
        assert np.mean(np.abs(pixels - reference).max(axis=-1) > 8) > 0.05


def test_strict_make_dataset_lists_every_decode_failure_and_skip_drops_them(tmp_path):
    root = make_identity_tree(tmp_path / "d", {"a": 3, "b": 3})
    (root / "a" / "a_0001.jpg").write_bytes(zeroed_jpeg())
    (root / "b" / "b_0002.png").write_bytes(bad_idat_png())
    (root / "b" / "b_0000.jpg").write_bytes(truncated_eoi_jpeg())
    source = folders.IdentityFolder(root)
    with pytest.raises(ValueError) as info:
        pipeline.make_dataset(source, 2, seed=0)
    text = str(info.value)
    assert "3 of 7 image file(s) failed validation" in text
    for name in ("a_0001.jpg", "b_0002.png", "b_0000.jpg"):
        assert name in text
    pipeline.make_dataset(source, 2, seed=0, verify="header")  # header-only: passes (the old behaviour)
    ds = pipeline.make_dataset(source, 1, seed=0, verify="skip", repeat=False, shuffle=False)
    assert sorted(int(b["index"][0]) for b in ds.as_numpy_iterator()) == [0, 2, 4, 5]  # a_0000, a_0002, b_0001.jpg, b_0002.jpg


def test_files_that_pass_decode_to_the_same_pixels_in_tf_and_opencv():
    paths = sorted(str(p) for p in LFW.glob("A*/*.jpg"))[:40] if LFW.is_dir() else []
    if not paths:
        if pathlib.Path("/work/shared").exists():
            pytest.fail(f"{LFW} missing")
        pytest.skip("../shared/data not present")
    assert images.check_images(paths, size=112).ok
    for p in paths[:10]:
        tf_pixels = images.decode_image(tf.io.read_file(p)).numpy()
        np.testing.assert_array_equal(tf_pixels, images.load_image(p).astype(np.float32))


def test_undecodable_files_names_the_file_of_the_failing_batch(tmp_path):
    root = make_identity_tree(tmp_path / "d", {"a": 5, "b": 5, "c": 5}, ext=".png")
    source = folders.IdentityFolder(root)
    ds = pipeline.make_dataset(source, 4, seed=7)  # strict check passes
    victim = source.paths[6]
    pathlib.Path(victim).write_bytes(bad_idat_png())  # damaged after the check
    it = iter(ds)
    failed_step = None
    for step in range(10):
        try:
            next(it)
        except tf.errors.InvalidArgumentError:
            failed_step = step
            break
    assert failed_step is not None
    assert pipeline.undecodable_files(source, 4, seed=7, step=failed_step) == [
        (victim, pipeline.undecodable_files(source, 4, seed=7, step=failed_step)[0][1])]
    (path, reason), = pipeline.undecodable_files(source, 4, seed=7, step=failed_step)
    assert path == victim and reason.startswith(f"{victim}: corrupt PNG")
    names = [n for n, _ in pipeline.batch_files(source, 4, 7, failed_step)]
    assert victim in names and len(names) == 4
    # the other batches of the epoch hold it not
    others = [s for s in range(4) if s != failed_step and victim not in [n for n, _ in pipeline.batch_files(source, 4, 7, s)]]
    assert others and all(pipeline.undecodable_files(source, 4, seed=7, step=s) == [] for s in others[:2])


def test_undecodable_files_in_skip_mode_uses_the_kept_files(tmp_path):
    root = make_identity_tree(tmp_path / "d", {"a": 4, "b": 4}, ext=".png")
    (root / "a" / "a_0000.png").write_bytes(bad_idat_png())  # skipped by the check
    source = folders.IdentityFolder(root)
    ds = pipeline.make_dataset(source, 2, seed=3, verify="skip")
    victim = source.paths[5]
    pathlib.Path(victim).write_bytes(bad_idat_png(2))
    it = iter(ds)
    for step in range(8):
        try:
            next(it)
        except tf.errors.InvalidArgumentError:
            break
    else:
        pytest.fail("the damaged file was never decoded")
    assert [p for p, _ in pipeline.undecodable_files(source, 2, seed=3, step=step, verify="skip")] == [victim]


def test_undecodable_files_of_a_tfrecord_source_names_the_record_path(tmp_path):
    root = make_identity_tree(tmp_path / "d", {"a": 3, "b": 3}, ext=".png")
    (root / "b" / "b_0001.png").write_bytes(bad_idat_png())
    out = tmp_path / "packed"
    tfrecord.write_tfrecords(folders.IdentityFolder(root), out, verify="none", progress=False)
    source = tfrecord.TFRecordSource(out)
    found = [pipeline.undecodable_files(source, 2, seed=0, step=s) for s in range(3)]
    flat = [x for f in found for x in f]
    assert [p for p, _ in flat] == [str(root / "b" / "b_0001.png")]
    step = next(s for s, f in enumerate(found) if f)
    it = iter(pipeline.make_dataset(source, 2, seed=0, start_step=step))
    with pytest.raises(tf.errors.InvalidArgumentError):
        next(it)


def _png_bomb(path, side=20000, target_bytes=1 << 20) -> pathlib.Path:
    """An RGB PNG declaring side x side whose IDAT is ~1 MB of deflated zeros (no real pixels needed:
    it must be refused from the header)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * side)
    parts, total = [], 0
    while total < target_bytes:
        part = comp.compress(row * 64)
        parts.append(part)
        total += len(part)
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    path = pathlib.Path(path)
    path.write_bytes(data)
    return path


def test_decompression_bomb_is_refused_from_the_header(tmp_path):
    bomb = _png_bomb(tmp_path / "bomb.png")
    assert 0.5e6 < bomb.stat().st_size < 3e6
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"bomb\.png: PNG declares 20000x20000 \(WxH\) = 400,000,000 pixels, over the limit of 50,000,000"):
        images.load_image(str(bomb))
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
    assert elapsed < 1.0 and peak < 20e6 and grown_kb < 100_000  # a decode would need 1.2 GB
    with pytest.raises(ValueError, match="over the limit"):
        images.decode_bytes(bomb.read_bytes(), "bomb")
    assert "over the limit of 50,000,000" in images.scan_images([str(bomb)]).errors[str(bomb)]  # the TF path's scan
    assert "over the limit" in images.check_images([str(bomb)]).errors[str(bomb)]
    with pytest.raises(ValueError, match="over the limit of 1,000"):
        images.load_image(tmp_path / "x.jpg" if False else str(_write_small(tmp_path)), max_pixels=1000)


def _write_small(tmp_path):
    p = tmp_path / "small.jpg"
    p.write_bytes(encode(random_rgb(0)))
    return p


def test_jpeg_declaring_a_huge_frame_is_refused():
    data = bytearray(encode(random_rgb(0)))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    with pytest.raises(ValueError, match=r"jpeg-bomb: JPEG declares 65000x65000"):
        images.decode_bytes(bytes(data), "jpeg-bomb")


def test_strict_lists_every_bad_file_also_beyond_the_message(tmp_path):
    root = tmp_path / "d"
    for i in range(105):
        (root / f"id{i % 3}").mkdir(parents=True, exist_ok=True)
        (root / f"id{i % 3}" / f"{i:04d}.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"105 of 105 image file\(s\) failed validation") as info:
        pipeline.make_dataset(folders.IdentityFolder(root), 2, seed=0)
    listing = str(info.value).split("(all 105 listed in ")[1].split(")")[0]
    lines = pathlib.Path(listing).read_text().splitlines()
    assert len(lines) == 105 and all(line.endswith(": empty file") for line in lines)
