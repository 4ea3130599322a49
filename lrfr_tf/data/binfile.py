"""insightface verification ``.bin`` files (lfw.bin, cfp_fp.bin, agedb_30.bin, ...).

A ``.bin`` is a pickle of ``(bins, issame)``: ``bins`` lists 2P encoded JPEG/PNG
images (bytes, or uint8 arrays), image 2i and 2i+1 forming pair i; ``issame``
is a list of P bools or a NumPy bool array. Pickle can call any importable
function, so these files are parsed with ``SafeUnpickler``, which admits only
the globals NumPy needs to rebuild arrays and refuses every other one before
it is called.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import struct
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from lrfr_tf.data import images as images_lib

# Globals a pickle of bytes, lists, bools and NumPy arrays may reference
# (numpy.core before NumPy 2, numpy._core from NumPy 2 on):
#  - multiarray._reconstruct + ndarray + dtype: ndarray.__reduce__ (protocols 0-4);
#  - numeric._frombuffer: ndarray.__reduce_ex__ with protocol 5;
#  - multiarray.scalar: NumPy scalars such as np.bool_ in a list;
#  - _codecs.encode: how Python 3 writes bytes (array data) with protocols 0-2.
ALLOWED_GLOBALS = frozenset(
    [(f"numpy.{core}.multiarray", "_reconstruct") for core in ("core", "_core")]
    + [(f"numpy.{core}.multiarray", "scalar") for core in ("core", "_core")]
    + [(f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")]
    + [("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")]
)


class ForbiddenGlobalError(pickle.UnpicklingError):
    """A pickle referenced a global outside ``ALLOWED_GLOBALS``."""


def _safe_frombuffer(buf, dtype, shape, order="C"):
    """NumPy's ``numeric._frombuffer`` (protocol-5 arrays) on an immutable copy of ``buf``: the
    array never exports the buffer of a bytearray or memoryview the pickle built."""
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise pickle.UnpicklingError(f"array data must be bytes, got {type(buf).__name__}")
    return np.frombuffer(bytes(buf), dtype=dtype).reshape(shape, order=order)


class SafeUnpickler(pickle._Unpickler):
    """An Unpickler that resolves only ``ALLOWED_GLOBALS`` and refuses any other
    global (``os.system``, ``builtins.eval``, ...) with an UnpicklingError naming
    ``source`` and the global, before anything is called.

    It is the pure-Python unpickler (a .bin holds a few thousand objects, so speed
    does not matter) with the buffer opcodes of protocol 5 (NEXT_BUFFER,
    READONLY_BUFFER) refused: no verification file needs them, and the C
    unpickler's READONLY_BUFFER applied to a hostile stack could free a
    bytearray that still had buffers exported (seen while fuzzing: "SystemError:
    deallocated bytearray object has exported buffers", then a crash).
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def _refuse_buffer(self):
        raise pickle.UnpicklingError("out-of-band / read-only buffer opcodes are not allowed in a .bin")

    dispatch[pickle.NEXT_BUFFER[0]] = _refuse_buffer
    dispatch[pickle.READONLY_BUFFER[0]] = _refuse_buffer

    def _load_bytearray8(self):
        # Both of Python's unpicklers allocate BYTEARRAY8's declared length before reading it
        # (the fuzzer's 134-byte file declaring 3 GB grew memory by 2.9 GB): read first, bounded.
        (n,) = struct.unpack("<Q", self.read(8))
        if n > self.size_limit:
            raise pickle.UnpicklingError(f"a bytearray declares {n:,} bytes but the file holds {self.size_limit:,}")
        data = self.read(n)
        if len(data) != n:
            raise pickle.UnpicklingError("pickle data was truncated")
        self.append(bytearray(data))

    dispatch[pickle.BYTEARRAY8[0]] = _load_bytearray8

    def __init__(self, file, source: str, size_limit: int = 1 << 62):
        super().__init__(file, encoding="bytes")  # Python 2 pickles: str -> bytes
        self.source = source
        self.size_limit = size_limit

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise ForbiddenGlobalError(
                f"{self.source}: refusing to load forbidden global {module}.{name} from the pickle "
                f"(a verification .bin may only contain bytes, lists, bools and NumPy arrays)"
            )
        if name == "_frombuffer":
            return _safe_frombuffer
        return super().find_class(module, name)


def safe_load_pickle(path: str):
    """Unpickle ``path`` with ``SafeUnpickler``.

    The file is read into memory first, so a length field declaring gigabytes
    (BINBYTES8, BYTEARRAY8, ...) fails as truncated data instead of making the
    unpickler allocate it. Any failure of the pickle machinery (also a
    UnicodeDecodeError, a RecursionError from deep nesting, NumPy refusing an
    array's state) is an UnpicklingError naming the file.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{path}: is a directory, not a .bin file") from None
    try:
        return SafeUnpickler(io.BytesIO(data), path, size_limit=len(data)).load()
    except ForbiddenGlobalError:
        raise
    except Exception as e:  # noqa: BLE001 - every way a hostile pickle can fail becomes one clear error
        text = str(e).splitlines()[0][:200] if str(e) else ""
        raise pickle.UnpicklingError(f"{path}: corrupt pickle ({type(e).__name__}: {text})") from None


@dataclasses.dataclass
class VerificationBin:
    """A parsed ``.bin``: ``encoded[2i], encoded[2i+1]`` form pair i, same person iff ``issame[i]``."""

    path: str
    encoded: List[bytes]
    issame: np.ndarray  # bool [P]

    def __len__(self) -> int:
        return len(self.issame)

    def images(self, size=(112, 112), resize: Optional[str] = None, alpha: str = "error",
               progress: bool = True) -> np.ndarray:
        """Decode all images -> uint8 RGB [2P, H, W, 3]; errors name ``path[i]``."""

        def decode(i: int) -> np.ndarray:
            source = f"{self.path}[image {i}]"
            return images_lib.fit_size(images_lib.decode_bytes(self.encoded[i], source, alpha), size, resize, source)

        decoded = images_lib.parallel_map(decode, range(len(self.encoded)), progress, f"decoding {os.path.basename(self.path)}")
        if not decoded:
            return np.zeros((0, 0, 0, 3), np.uint8)
        first = decoded[0].shape
        for i, image in enumerate(decoded):
            if image.shape != first:
                raise ValueError(f"{self.path}[image {i}]: size {image.shape[:2]} differs from image 0's {first[:2]}")
        return np.stack(decoded)


def _as_bytes(item, path: str, i: int) -> bytes:
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim == 1:
        return item.tobytes()
    raise ValueError(f"{path}: image {i} is a {type(item).__name__}, expected encoded image bytes")


def read_bin(path: Union[str, os.PathLike]) -> VerificationBin:
    """Parse a verification ``.bin`` safely and check its structure (nothing decoded yet)."""
    path = os.fspath(path)
    data = safe_load_pickle(path)
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(f"{path}: expected a pickled (images, issame) pair, got {type(data).__name__}")
    bins, issame = data
    if not isinstance(bins, (list, tuple)):
        raise ValueError(f"{path}: images must be a list, got {type(bins).__name__}")
    if isinstance(issame, np.ndarray):
        if issame.dtype != np.bool_ or issame.ndim != 1:
            raise ValueError(f"{path}: issame array must be 1-D bool, got {issame.dtype} {issame.shape}")
        same = issame.copy()
    elif isinstance(issame, (list, tuple)):
        if not all(isinstance(v, (bool, np.bool_)) for v in issame):
            raise ValueError(f"{path}: issame must contain only bools")
        same = np.asarray(issame, np.bool_).reshape(-1)
    else:
        raise ValueError(f"{path}: issame must be a list of bools or a bool array, got {type(issame).__name__}")
    if len(bins) != 2 * len(same):
        raise ValueError(f"{path}: {len(bins)} images for {len(same)} pairs (expected {2 * len(same)})")
    # A pickle can reference one object many times (memo); convert each object once, so that a
    # small file listing the same large bytearray thousands of times does not become gigabytes of copies.
    converted = {}
    encoded = []
    for i, b in enumerate(bins):
        if id(b) not in converted:
            converted[id(b)] = _as_bytes(b, path, i)
        encoded.append(converted[id(b)])
    return VerificationBin(path, encoded, same)


def load_bin(path: Union[str, os.PathLike], size=(112, 112), resize: Optional[str] = None, alpha: str = "error",
             progress: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Read a ``.bin`` -> (uint8 RGB images [2P, H, W, 3], issame bool [P])."""
    vb = read_bin(path)
    return vb.images(size, resize, alpha, progress), vb.issame


def write_bin(path: Union[str, os.PathLike], encoded: Sequence[bytes], issame: Sequence[bool]) -> None:
    """Write a ``.bin`` in insightface's layout: (list of bytes, list of bools)."""
    encoded, issame = [bytes(b) for b in encoded], [bool(s) for s in issame]
    if len(encoded) != 2 * len(issame):
        raise ValueError(f"{len(encoded)} images for {len(issame)} pairs (expected {2 * len(issame)})")
    with open(path, "wb") as f:
        pickle.dump((encoded, issame), f, protocol=pickle.HIGHEST_PROTOCOL)
