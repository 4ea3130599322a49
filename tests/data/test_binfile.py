"""insightface verification .bin files: parsing, decoding, and refusing malicious pickles."""

import os
import pickle

import numpy as np
import pytest

import fake_images
from lrfr_tf.data import binfile, images


def _faces(n):
    return [fake_images.random_rgb(100 + i) for i in range(n)]


def _write_pickle(path, obj, protocol):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


@pytest.mark.parametrize("issame_kind, protocol", [
    ("list", pickle.HIGHEST_PROTOCOL),       # insightface's own layout
    ("array", 2),                            # ndarray via _reconstruct + _codecs.encode
    ("array", 4),                            # ndarray via _reconstruct, bytes inline
    ("array", 5),                            # ndarray via _frombuffer
    ("numpy_scalars", pickle.HIGHEST_PROTOCOL),  # list of np.bool_
])
def test_tiny_bin_roundtrip(tmp_path, issame_kind, protocol):
    faces = _faces(6)
    encoded = [fake_images.encode(f, ".png") for f in faces[:4]] + [fake_images.encode(f, ".jpg") for f in faces[4:]]
    same = [True, False, True]
    issame = {"list": same, "array": np.asarray(same), "numpy_scalars": [np.bool_(s) for s in same]}[issame_kind]
    path = _write_pickle(tmp_path / "tiny.bin", (encoded, issame), protocol)
    decoded, got_same = binfile.load_bin(path, progress=False)
    assert got_same.dtype == np.bool_ and got_same.tolist() == same
    assert decoded.shape == (6, 112, 112, 3) and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded[:4], np.stack(faces[:4]))  # PNG is lossless
    for i in (4, 5):
        np.testing.assert_array_equal(decoded[i], images.decode_bytes(encoded[i]))


def test_write_bin_matches_insightface_layout(tmp_path):
    encoded = [fake_images.encode(f) for f in _faces(2)]
    path = tmp_path / "w.bin"
    binfile.write_bin(path, encoded, [True])
    with open(path, "rb") as f:
        bins, issame = pickle.load(f)
    assert bins == encoded and issame == [True]
    vb = binfile.read_bin(path)
    assert len(vb) == 1 and vb.encoded == encoded


class _Payload:
    """Pickles to a call of ``func(*args)``, the classic pickle code-execution attack."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("attack, global_name", [
    (lambda marker: _Payload(os.system, f"touch {marker}"), "posix.system"),
    (lambda marker: _Payload(eval, f"open({str(marker)!r}, 'w').close()"), "builtins.eval"),
])
def test_malicious_bin_is_refused_without_running_the_payload(tmp_path, attack, global_name):
    marker = tmp_path / "pwned"
    encoded = [fake_images.encode(f) for f in _faces(2)]
    # The payload hides in the issame list, after legitimate image bytes.
    path = _write_pickle(tmp_path / "evil.bin", (encoded, [attack(marker)]), pickle.HIGHEST_PROTOCOL)
    with pytest.raises(pickle.UnpicklingError, match=rf"evil\.bin: refusing to load forbidden global {global_name}"):
        binfile.read_bin(path)
    assert not marker.exists(), "the pickle payload ran"
    # Control: the stock unpickler does run it, so the test above proves something.
    with open(path, "rb") as f:
        pickle.load(f)
    assert marker.exists()


def test_numpy_object_array_cannot_smuggle_a_call(tmp_path):
    marker = tmp_path / "pwned"
    issame = np.array([_Payload(os.system, f"touch {marker}")], dtype=object)
    path = _write_pickle(tmp_path / "objarray.bin", ([b"x", b"y"], issame), pickle.HIGHEST_PROTOCOL)
    with pytest.raises(pickle.UnpicklingError, match=r"objarray\.bin: .*forbidden global posix\.system"):
        binfile.read_bin(path)
    assert not marker.exists()


def test_structure_errors_name_the_file(tmp_path):
    img = fake_images.encode(_faces(1)[0])
    cases = {
        "count.bin": (([img] * 3, [True]), r"count\.bin: 3 images for 1 pairs"),
        "ints.bin": (([img] * 2, [1]), r"ints\.bin: issame must contain only bools"),
        "shape.bin": ((img,), r"shape\.bin: expected a pickled \(images, issame\) pair"),
        "types.bin": (([img, 5], [True]), r"types\.bin: image 1 is a int"),
    }
    for name, (obj, message) in cases.items():
        _write_pickle(tmp_path / name, obj, pickle.HIGHEST_PROTOCOL)
        with pytest.raises(ValueError, match=message):
            binfile.read_bin(tmp_path / name)


def test_truncated_pickle_names_the_file(tmp_path):
    data = pickle.dumps(([fake_images.encode(f) for f in _faces(2)], [True]), protocol=pickle.HIGHEST_PROTOCOL)
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(pickle.UnpicklingError, match=r"cut\.bin: corrupt pickle"):
        binfile.read_bin(tmp_path / "cut.bin")


def test_bad_image_inside_a_bin_names_the_file_and_index(tmp_path):
    good = fake_images.encode(_faces(1)[0])
    bad = good[: len(good) // 2]
    path = tmp_path / "partial.bin"
    binfile.write_bin(path, [good, bad], [True])
    with pytest.raises(ValueError, match=r"partial\.bin\[image 1\]: truncated JPEG"):
        binfile.load_bin(path, progress=False)


def test_numpy_1_spelling_of_array_globals_is_admitted(tmp_path):
    """Files written under NumPy 1 name numpy.core.*, NumPy 2 writes numpy._core.*."""
    encoded = [fake_images.encode(f) for f in _faces(2)]
    data = pickle.dumps((encoded, np.asarray([False])), protocol=2)  # text GLOBAL opcodes
    assert b"numpy._core.multiarray\n_reconstruct" in data
    (tmp_path / "np1.bin").write_bytes(data.replace(b"numpy._core.", b"numpy.core."))
    assert binfile.read_bin(tmp_path / "np1.bin").issame.tolist() == [False]
