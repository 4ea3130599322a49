"""Deterministic regressions for the hostile inputs the fuzzers found (and the issue's cases)."""

import pickle
import struct

import numpy as np
import pytest

from lrfr_tf.data import binfile, pairs
from lrfr_tf.eval import protocols
from tests.fuzz import targets


@pytest.mark.parametrize("value", ["٣", "１", "1_0", "٣٣", "0x10", ""])
def test_protocol_non_ascii_or_odd_digits_are_value_errors_naming_file_and_value(tmp_path, value):
    path = tmp_path / "proto.csv"
    path.write_text(f"112,{value},112,5\n", "utf-8")
    with pytest.raises(ValueError, match=rf"proto\.csv: protocol values must be integers, got {value!r}"):
        protocols.read_protocol(str(path))


def test_protocol_bytes_that_are_not_utf8_and_huge_sizes(tmp_path):
    path = tmp_path / "proto.csv"
    path.write_bytes(b"112,\xff5\n")
    with pytest.raises(ValueError, match=r"proto\.csv: .*UTF-8"):
        protocols.read_protocol(str(path))
    path.write_text("112," + "9" * 30 + "\n")
    with pytest.raises(ValueError, match=r"proto\.csv: .*out of range"):
        protocols.read_protocol(str(path))
    path.write_text("112,70000\n")
    with pytest.raises(ValueError, match=r"proto\.csv: sizes are side lengths .* at most 65535"):
        protocols.read_protocol(str(path))


@pytest.mark.parametrize("text, match", [
    (b"\x80\n", "a pairs file is UTF-8 text, found byte 0x80"),
    ("1 1\nA ١ 2\nA 1 B 2\n".encode(), ":2: expected 'name i j'"),
    (b"1 1\n../etc 1 2\nA 1 B 2\n", ":2: expected 'name i j'"),
    (b"1 1\nA -1 2\nA 1 B 2\n", ":2: expected"),
    (b"0 0\n", ":1: header must be"),
])
def test_pairs_file_hostile_content_is_a_value_error_naming_the_file(tmp_path, text, match):
    path = tmp_path / "pairs.txt"
    path.write_bytes(text)
    with pytest.raises(ValueError, match=rf"pairs\.txt{match}" if match.startswith(":") else rf"pairs\.txt: {match}"):
        pairs.read_pairs(str(path))


def test_bin_memo_bomb_is_not_multiplied_in_memory(tmp_path):
    """4000 references to one 256 KB bytearray: read as 1 object, not 1 GB of copies."""
    path = tmp_path / "bomb.bin"
    path.write_bytes(targets._op_pickle("memo_bomb", 0))
    before = targets.peak_rss_mb()
    vb = binfile.read_bin(str(path))
    assert len(vb) == 2000 and len({id(b) for b in vb.encoded}) == 1
    assert targets.peak_rss_mb() - before < 100
    with pytest.raises(ValueError, match=r"bomb\.bin\[image 0\]: not a JPEG or PNG"):
        vb.images(progress=False)


@pytest.mark.parametrize("data", [
    b"\x80\x04\x8e" + struct.pack("<Q", 1 << 33) + b"abc.",  # BINBYTES8 declaring 8 GB
    b"\x80\x04\x8c\x03\xff\xfe\xfd\x85.",  # short unicode that is not UTF-8
    targets._op_pickle("nested", 0),
    targets._op_pickle("bytearray8", 0),  # found by the campaign: 134 bytes declaring 3 GB grew memory by 2.9 GB
    targets._op_pickle("readonly_buffer", 0),  # protocol-5 buffer opcodes are refused
    b"",
])
def test_bin_hostile_pickles_are_unpickling_errors_naming_the_file(tmp_path, data):
    path = tmp_path / "x.bin"
    path.write_bytes(data)
    before = targets.peak_rss_mb()
    with pytest.raises((pickle.UnpicklingError, ValueError), match=r"x\.bin"):
        binfile.read_bin(str(path))
    assert targets.peak_rss_mb() - before < 100


def test_bin_forbidden_global_is_refused_before_it_runs(tmp_path):
    path = tmp_path / "evil.bin"
    marker = tmp_path / "ran"
    path.write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    with pytest.raises(binfile.ForbiddenGlobalError, match=r"evil\.bin: refusing to load forbidden global os\.system"):
        binfile.read_bin(str(path))
    assert not marker.exists()


def test_mutated_seed_images_accepted_by_the_check_decode_identically_in_tf():
    """The fuzzers' core property on a fixed sample of mutations (the hypothesis test explores more)."""
    rng = np.random.default_rng(0)
    outcomes = []
    for k in range(60):
        kind = ["jpeg", "png"][k % 2]
        ops = [("flip", int(rng.integers(0, 1 << 20)), int(rng.integers(0, 8)))] if k % 3 else [("truncate_eoi", int(rng.integers(200, 4000)))]
        outcomes.append(targets.run_image((kind, k, ops)))
    assert "rejected" in outcomes and "accepted" in outcomes


def test_progressive_jpeg_cut_between_scans_is_refused():
    """Found by the image fuzzer: a progressive JPEG cut after a scan plus an end marker decodes
    with no warning at all, to pixels that differ between OpenCV and TF (up to 6 levels)."""
    from lrfr_tf.data import images

    data = targets.image_bytes(("jpeg", 4, [("truncate_eoi", 412)]))
    with pytest.raises(ValueError, match=r"fuzz: truncated JPEG \(the scans end before component\(s\)"):
        images.inspect_image_bytes(data, "fuzz")
    images.inspect_image_bytes(targets.seed_files()["jpeg"][4], "intact")  # the whole progressive file is fine


def test_bin_protocol5_arrays_are_read_from_immutable_copies(tmp_path):
    """The fuzzer crashed the interpreter once through the C unpickler's buffer handling
    ("deallocated bytearray object has exported buffers"); arrays now never view a pickle's bytearray."""
    path = tmp_path / "p5.bin"
    jpeg = targets.seed_files()["jpeg"][3]
    writable = np.frombuffer(bytearray(jpeg), np.uint8)
    path.write_bytes(pickle.dumps(([writable, np.frombuffer(jpeg, np.uint8)], [True]), protocol=5))
    vb = binfile.read_bin(str(path))
    assert vb.encoded == [jpeg, jpeg]
    assert binfile.load_bin(str(path), size=None, progress=False)[0].shape[0] == 2
