"""Hostile-input fuzz targets shared by ``tests/fuzz`` (bounded, in the default suite) and
``benchmarks/fuzz_inputs.py`` (the long campaign).

Each target is a hypothesis strategy (``STRATEGIES[name]``) and a runner (``RUNNERS[name]``)
that feeds one generated input to the readers. The property: the input either works or
raises one of ``ALLOWED`` whose message names the file (or config key); never a native
crash, a hang (``time_limit``), a bare IndexError / struct.error / StopIteration /
UnicodeDecodeError / KeyError / TypeError / RecursionError, or a MemoryError. A violation
is an AssertionError saying what happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import pickle
import shutil
import signal
import struct
import tempfile
import zlib

import numpy as np
from hypothesis import strategies as st

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = REPO / "lrfr_tf" / "data" / "sample" / "celeba"

#: Exceptions a reader may raise for a hostile input (their message must name the file or key).
ALLOWED = (ValueError, FileNotFoundError, pickle.UnpicklingError)
#: Never acceptable, even though some are ValueError / LookupError subclasses.
FORBIDDEN = (UnicodeError, IndexError, struct.error, StopIteration, MemoryError, RecursionError, TypeError,
             AttributeError, ZeroDivisionError, OverflowError, AssertionError)

PER_EXAMPLE_SECONDS = 20.0


class Hang(BaseException):
    """An example ran past its time limit (BaseException: no reader may swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float = PER_EXAMPLE_SECONDS):
    def on_alarm(signum, frame):
        raise Hang(f"example ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def expect_clear(fn, names, allowed=ALLOWED, what: str = "input"):
    """Run ``fn()``; return its result, or the allowed exception it raised (message naming one of
    ``names``). Anything else is an AssertionError describing the violation."""
    names = [str(n) for n in names]
    try:
        with time_limit():
            return fn()
    except Hang as e:
        raise AssertionError(f"{what}: hang: {e}") from None
    except FORBIDDEN as e:
        raise AssertionError(f"{what}: bare {type(e).__name__}: {e!r}") from e
    except allowed as e:
        err = e
    except Exception as e:  # noqa: BLE001 - every other type is a violation
        raise AssertionError(f"{what}: unexpected {type(e).__name__}: {e!r}") from e
    message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    if not any(n in message for n in names):
        raise AssertionError(f"{what}: {type(err).__name__} does not name {names}: {message!r}")
    return err


# ---------------------------------------------------------------------------------------------
# Seeds: real small files
# ---------------------------------------------------------------------------------------------

_SEEDS = {}


def seed_files():
    """{"jpeg": [bytes], "png": [bytes]}: real CelebA sample faces and PNG re-encodings (gray, RGBA, 16-bit)."""
    if not _SEEDS:
        import cv2

        jpegs = sorted(SAMPLE.glob("*/*.jpg"))[:3]
        _SEEDS["jpeg"] = [p.read_bytes() for p in jpegs]
        face = cv2.imdecode(np.frombuffer(_SEEDS["jpeg"][0], np.uint8), cv2.IMREAD_COLOR)
        small = cv2.resize(face, (32, 32), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        _SEEDS["jpeg"].append(cv2.imencode(".jpg", gray)[1].tobytes())
        _SEEDS["jpeg"].append(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes())
        _SEEDS["png"] = [
            cv2.imencode(".png", small)[1].tobytes(),
            cv2.imencode(".png", gray)[1].tobytes(),
            cv2.imencode(".png", np.dstack([small, gray]))[1].tobytes(),
            cv2.imencode(".png", small.astype(np.uint16) * 257)[1].tobytes(),
        ]
    return _SEEDS


# ---------------------------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------------------------

def _fix_png_crc(data: bytearray, at: int) -> None:
    """Recompute the CRC of the PNG chunk whose type starts at ``at`` (if it fits)."""
    n = int.from_bytes(data[at - 4 : at], "big")
    if at + 4 + n + 4 <= len(data):
        data[at + 4 + n : at + 8 + n] = struct.pack(">I", zlib.crc32(bytes(data[at : at + 4 + n])))


def mutate(data: bytes, ops) -> bytes:
    """Apply mutation ops (tuples drawn by ``mutation_ops``) to ``data``."""
    b = bytearray(data)
    for op in ops:
        kind = op[0]
        if not b:
            break
        if kind == "flip":
            pos = op[1] % len(b)
            b[pos] ^= 1 << op[2]
        elif kind == "truncate":
            b = b[: op[1] % (len(b) + 1)]
        elif kind == "truncate_eoi":
            b = b[: op[1] % (len(b) + 1)] + b"\xff\xd9"
        elif kind == "insert":
            pos = op[1] % (len(b) + 1)
            b[pos:pos] = op[2]
        elif kind == "zero":
            pos = op[1] % len(b)
            b[pos : pos + op[2]] = b"\x00" * len(b[pos : pos + op[2]])
        elif kind == "overwrite":
            pos = op[1] % len(b)
            b[pos : pos + len(op[2])] = op[2]
        elif kind == "dims":
            h, w = op[1], op[2]
            sof = next((i for i in range(2, len(b) - 9) if b[i] == 0xFF and b[i + 1] in (0xC0, 0xC1, 0xC2)), -1)
            if sof >= 0:
                b[sof + 5 : sof + 9] = struct.pack(">HH", h & 0xFFFF, w & 0xFFFF)
            i = bytes(b).find(b"IHDR")
            if i >= 0 and i + 12 <= len(b):
                b[i + 4 : i + 12] = struct.pack(">II", w & 0xFFFFFFFF, h & 0xFFFFFFFF)
                if op[3]:
                    _fix_png_crc(b, i)
        elif kind == "png_field":  # IHDR bit depth / colour type / interlace, CRC fixed
            i = bytes(b).find(b"IHDR")
            if i >= 0 and i + 17 <= len(b):
                b[i + 12 + op[1] % 5] = op[2]
                _fix_png_crc(b, i)
        elif kind == "png_idat":  # damage compressed data, CRC fixed (what a bad copy of a file does)
            i = bytes(b).find(b"IDAT")
            if i >= 0:
                n = int.from_bytes(b[i - 4 : i], "big")
                if n and i + 4 + n <= len(b):
                    b[i + 4 + op[1] % n] ^= op[2] or 1
                    _fix_png_crc(b, i)
    return bytes(b)


_small_dims = st.one_of(st.integers(0, 300), st.sampled_from([0, 1, 65535, 7072, 20000, 1 << 31, (1 << 32) - 1]))

mutation_ops = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(0, 7)),
        st.tuples(st.just("truncate"), st.integers(0, 1 << 20)),
        st.tuples(st.just("truncate_eoi"), st.integers(0, 1 << 20)),
        st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("zero"), st.integers(0, 1 << 20), st.integers(1, 256)),
        st.tuples(st.just("overwrite"), st.integers(0, 1 << 20),
                  st.sampled_from([b"\xff\xd9", b"\xff\xda", b"\xff\xc4", b"\xff\xd8", b"\xff\x00", b"IEND", b"IDAT",
                                   b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"])),
        st.tuples(st.just("dims"), _small_dims, _small_dims, st.booleans()),
        st.tuples(st.just("png_field"), st.integers(0, 4), st.integers(0, 255)),
        st.tuples(st.just("png_idat"), st.integers(0, 1 << 16), st.integers(0, 255)),
    ),
    min_size=1,
    max_size=4,
)

image_inputs = st.one_of(
    st.tuples(st.sampled_from(["jpeg", "png"]), st.integers(0, 4), mutation_ops),
    st.tuples(st.just("raw"), st.binary(max_size=256), st.just(())),
)


def image_bytes(example) -> bytes:
    kind, which, ops = example
    if kind == "raw":
        return which
    files = seed_files()[kind]
    return mutate(files[which % len(files)], ops)


# ---------------------------------------------------------------------------------------------
# Runners
# ---------------------------------------------------------------------------------------------

_TMP = None


def tmp_dir() -> pathlib.Path:
    global _TMP
    if _TMP is None:
        _TMP = pathlib.Path(tempfile.mkdtemp(prefix="lrfr_fuzz_"))
    return _TMP


def run_image(example) -> str:
    """Header scan, OpenCV decode and decode check of a mutated image; if the decode check accepts
    it, TF must decode it to the same pixels as OpenCV (the check's answer holds for training)."""
    from lrfr_tf.data import images

    data = image_bytes(example)
    name = "fuzz-image.bin"
    r1 = expect_clear(lambda: images.inspect_image_bytes(data, name), [name], what="inspect_image_bytes")
    r2 = expect_clear(lambda: images.decode_bytes(data, name, alpha="drop"), [name], what="decode_bytes")
    r3 = expect_clear(lambda: images.check_image_bytes(data, name, alpha="drop"), [name], what="check_image_bytes")
    if isinstance(r3, BaseException):
        return "rejected"
    assert not isinstance(r1, BaseException), "check_image_bytes accepted what inspect_image_bytes refused"
    assert not isinstance(r2, BaseException), f"check_image_bytes accepted what decode_bytes refused: {r2}"
    import tensorflow as tf

    try:
        with time_limit():
            pixels = images.decode_image(tf.constant(data), alpha="drop").numpy()
    except tf.errors.OpError as e:
        raise AssertionError(f"the decode check accepted a file TF cannot decode: {e.message[:200]}") from None
    if pixels.shape != r2.shape or not np.array_equal(pixels, r2.astype(np.float32)):
        diff = np.abs(pixels - r2).max() if pixels.shape == r2.shape else "shape"
        raise AssertionError(f"accepted file decodes differently in TF and OpenCV ({pixels.shape} vs {r2.shape}, max diff {diff})")
    return "accepted"


# LFW pairs files --------------------------------------------------------------------------------

_name = st.text(st.sampled_from(list("AbcZ_-.'/ 1é٣１\t")), min_size=0, max_size=8)
_num = st.one_of(st.integers(-3, 10000).map(str), st.sampled_from(["١", "１", "0x1", "1e3", "", "99999999999999999999"]))
_pair_line = st.one_of(
    st.tuples(_name, _num, _num).map(" ".join),
    st.tuples(_name, _num, _name, _num).map(" ".join),
    st.text(max_size=30),
)
pairs_inputs = st.one_of(
    st.tuples(st.one_of(st.tuples(_num, _num).map(" ".join), _num, st.text(max_size=10)),
              st.lists(_pair_line, max_size=12)).map(lambda t: ("\n".join([t[0]] + t[1]) + "\n").encode("utf-8")),
    st.binary(max_size=200),
    st.builds(lambda k, flips: mutate(b"1 2\nA 1 2\nB 3 4\nA 1 B 2\nC 1 D 4\n", flips)
              if k else b"1 2\nA 1 2\nB 3 4\nA 1 B 2\nC 1 D 4\n", st.booleans(), mutation_ops),
)


def run_pairs(data: bytes):
    from lrfr_tf.data import pairs

    path = tmp_dir() / "fuzz_pairs.txt"
    path.write_bytes(data)
    result = expect_clear(lambda: pairs.read_pairs(str(path)), [path], what="read_pairs")
    if not isinstance(result, BaseException):
        for p in result:
            for rel in (p.path1, p.path2):
                assert not os.path.isabs(rel) and ".." not in rel.split("/"), f"pair path escapes the root: {rel!r}"
        return "accepted"
    return "rejected"


# Protocol CSVs ----------------------------------------------------------------------------------

_field = st.one_of(st.integers(-5, 200).map(str), st.sampled_from(["٣", "１", "1_0", "+5", "-0", " 7 ", "", "x", "1e2",
                                                                   "9" * 30, "0x10", "٣٣", "\u00a0"]))
protocol_inputs = st.one_of(
    st.lists(_field, max_size=10).map(lambda f: (",".join(f) + "\n").encode("utf-8")),
    st.lists(st.lists(_field, max_size=4).map(",".join), max_size=3).map(lambda ls: "\n".join(ls).encode("utf-8")),
    st.binary(max_size=64),
)


def run_protocol(example):
    from lrfr_tf.eval import protocols

    data, num_pairs = example
    path = tmp_dir() / "fuzz_protocol.csv"
    path.write_bytes(data)
    result = expect_clear(lambda: protocols.read_protocol(str(path), num_pairs), [path], what="read_protocol")
    if isinstance(result, BaseException):
        return "rejected"
    assert result.dtype == np.int32 and result.size % 2 == 0 and (result > 0).all()
    text = data.decode("utf-8")
    assert all(c.isascii() for c in text if c.isdigit()), f"accepted non-ASCII digits: {text!r}"
    return "accepted"


protocol_examples = st.tuples(protocol_inputs, st.one_of(st.none(), st.integers(0, 6)))


# .bin pickles ----------------------------------------------------------------------------------

def _op_pickle(kind: str, n: int) -> bytes:
    """Hand-written pickles: huge declared lengths, forbidden globals, deep nesting."""
    if kind == "binbytes8":
        return b"\x80\x04" + b"\x8e" + struct.pack("<Q", (1 << 62) + n) + b"abc" + b"."
    if kind == "bytearray8":  # both CPython unpicklers allocate this before reading it
        return b"\x80\x05\x96" + struct.pack("<Q", (3 << 30) + n) + b"abc."
    if kind == "binunicode8":
        return b"\x80\x04" + b"\x8d" + struct.pack("<Q", (1 << 40) + n) + b"." 
    if kind == "long4":
        return b"\x80\x02" + b"\x8b" + struct.pack("<i", 0x7FFFFFF0 - n) + b"\x01" * 8 + b"."
    if kind == "bad_utf8":
        return b"\x80\x04" + b"\x8c\x03\xff\xfe\xfd" + b"\x85" + b"."
    if kind == "global_os":
        return b"cos\nsystem\n(S'echo pwned'\ntR."
    if kind == "stack_global":
        return b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x041+1\x85R."
    if kind == "numpy_other":
        return b"\x80\x04\x8c\x05numpy\x8c\x04load\x93."
    if kind == "deep_list":
        return b"\x80\x04" + b"]" * (n * 1000 + 1000) + b"."
    if kind == "deep_tuple":
        return b"\x80\x02" + b"(" * (n * 500 + 500) + b"t" * (n * 500 + 500) + b"."
    if kind == "memo_bomb":  # one 256 KB bytearray referenced 4000 times (copies would take 1 GB)
        body = b"\x80\x05" + b"\x96" + struct.pack("<Q", 1 << 18) + b"\xff" * (1 << 18) + b"\x94"  # BYTEARRAY8, MEMOIZE
        refs = b"](" + b"h\x00" * (4000 + 2 * n) + b"e"
        issame = b"](" + b"\x88" * (2000 + n) + b"e"
        return body + b"0" + refs + issame + b"\x86."
    if kind == "nested":  # lists nested 100k deep
        return b"\x80\x04" + b"]" * 100_000 + b"a" * 99_999 + b"]\x86."
    if kind == "readonly_buffer":  # READONLY_BUFFER on a bytearray, then passed to numpy's _frombuffer
        return (b"\x80\x05\x8c\x13numpy._core.numeric\x8c\x0b_frombuffer\x93" + b"\x96" + struct.pack("<Q", 8 + n)
                + b"\x01" * (8 + n) + b"\x98" + b"\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02u1\x85R" + b"K\x08\x85\x8c\x01C\x94"
                + b"t" + b"R.")
    if kind == "empty":
        return b""
    raise ValueError(kind)


def _bin_object(draw):
    seeds = seed_files()
    img = draw(st.one_of(st.sampled_from(seeds["jpeg"][:2] + seeds["png"][:1]),
                         st.binary(max_size=32),
                         st.builds(lambda ops: mutate(seeds["jpeg"][3], ops), mutation_ops)))
    items = draw(st.lists(st.one_of(st.just(img), st.just(bytearray(img)), st.just(np.frombuffer(img, np.uint8)),
                                    st.integers(), st.text(max_size=4), st.none(), st.just([img]),
                                    st.just(np.zeros((2, 2), np.uint8))), max_size=4))
    same = draw(st.one_of(st.lists(st.booleans(), max_size=3), st.lists(st.one_of(st.booleans(), st.integers(0, 1)), max_size=3),
                          st.builds(lambda k: np.ones(k, np.bool_), st.integers(0, 3)),
                          st.builds(lambda k: np.ones((k, 2), np.bool_), st.integers(0, 2)),
                          st.just(np.array([1.0, 0.0])), st.none(), st.text(max_size=3)))
    shape = draw(st.sampled_from(["pair", "tuple3", "dict", "list"]))
    obj = {"pair": (items, same), "tuple3": (items, same, 1), "dict": {"bins": items}, "list": [items, same]}[shape]
    protocol = draw(st.integers(0, 5))
    data = pickle.dumps(obj, protocol=protocol)
    if draw(st.booleans()):
        data = mutate(data, draw(mutation_ops))
    return data


bin_inputs = st.one_of(
    st.composite(lambda draw: _bin_object(draw))(),
    st.tuples(st.sampled_from(["binbytes8", "bytearray8", "binunicode8", "long4", "bad_utf8", "global_os", "stack_global",
                               "numpy_other", "deep_list", "deep_tuple", "memo_bomb", "nested", "readonly_buffer",
                               "empty"]),
              st.integers(0, 3)).map(lambda t: _op_pickle(*t)),
    st.binary(max_size=128),
)


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: Most a single hostile input may raise the process's peak memory by.
MAX_GROWTH_MB = 400


def run_bin(data: bytes):
    from lrfr_tf.data import binfile

    path = tmp_dir() / "fuzz.bin"
    path.write_bytes(data)
    peak = peak_rss_mb()
    vb = expect_clear(lambda: binfile.read_bin(str(path)), [path], what="read_bin")
    if not isinstance(vb, BaseException):
        vb = expect_clear(lambda: binfile.load_bin(str(path), size=None, resize=None, alpha="drop", progress=False),
                          [path], what="load_bin")
    grown = peak_rss_mb() - peak
    assert grown < MAX_GROWTH_MB, f"a {len(data)}-byte .bin raised peak memory by {grown:.0f} MB"
    return "rejected" if isinstance(vb, BaseException) else "accepted"


# Packed TFRecords -------------------------------------------------------------------------------

_PACKED = {}


def packed_dataset() -> pathlib.Path:
    """A small packed dataset (6 sample faces of 3 identities, 2 shards), made once."""
    if "dir" not in _PACKED:
        from lrfr_tf.data import folders, tfrecord

        src = tmp_dir() / "packsrc"
        for ident in sorted(p.name for p in SAMPLE.iterdir() if p.is_dir())[:3]:
            (src / ident).mkdir(parents=True, exist_ok=True)
            for f in sorted((SAMPLE / ident).glob("*.jpg"))[:2]:
                shutil.copy(f, src / ident / f.name)
        out = tmp_dir() / "packed"
        tfrecord.write_tfrecords(folders.IdentityFolder(src), out, examples_per_shard=3, progress=False)
        _PACKED["dir"] = out
    return _PACKED["dir"]


_json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 10), st.floats(allow_nan=False), st.text(max_size=6)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)),
    max_leaves=6,
)

tfrecord_inputs = st.tuples(
    st.sampled_from(["dataset.json", "label_map.json", "shard"]),
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from(["format", "shards", "shard_sizes", "num_examples", "num_classes",
                                                   "class_names", "validation", "version", "source"]), _json_value),
        st.tuples(st.just("delete"), st.sampled_from(["format", "shards", "shard_sizes", "num_classes", "class_names",
                                                      "validation"]), st.none()),
        st.tuples(st.just("bytes"), mutation_ops, st.none()),
        st.tuples(st.just("whole"), _json_value, st.none()),
    ),
    st.integers(0, 3),
)


def run_tfrecord(example):
    """Damage one file of a packed dataset; TFRecordSource and make_dataset must refuse it clearly
    or read it; a tf.data error while iterating must be located by ``undecodable_files``."""
    import tensorflow as tf

    from lrfr_tf.data import pipeline, tfrecord

    target, (how, key, value), seed = example
    work = tmp_dir() / "tfr_case"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(packed_dataset(), work)
    if target == "shard":
        victims = sorted(work.glob("*.tfrecord"))
        victim = victims[seed % len(victims)]
    else:
        victim = work / target
    if how == "bytes":
        victim.write_bytes(mutate(victim.read_bytes(), key))
    elif target != "shard":
        data = json.loads(victim.read_text("utf-8"))
        if how == "set":
            data[key] = value
        elif how == "delete":
            data.pop(key, None)
        else:
            data = key
        victim.write_text(json.dumps(data), "utf-8")
    else:
        victim.write_bytes(victim.read_bytes()[: seed * 40])
    names = [work, victim]
    source = expect_clear(lambda: tfrecord.TFRecordSource(str(work)), names, what="TFRecordSource")
    if isinstance(source, BaseException):
        return "rejected"

    def read():
        ds = pipeline.make_dataset(source, 2, seed=seed, repeat=False, verify="strict")
        return [b["label"] for b in ds.take(4).as_numpy_iterator()]

    try:
        with time_limit():
            labels = read()
    except Hang as e:
        raise AssertionError(f"make_dataset: hang: {e}") from None
    except tf.errors.OpError as e:
        # what the engine does: name the damaged shard/file of the failing batch
        steps = range(0, 4)
        found = [x for s in steps for x in pipeline.undecodable_files(source, 2, seed=seed, step=s, repeat=False)]
        assert found, f"tf.data failed ({type(e).__name__}: {e.message[:120]}) but undecodable_files names nothing"
        return "located"
    except ValueError as e:
        assert any(str(n) in str(e) for n in names), f"make_dataset ValueError does not name the dataset: {e}"
        return "rejected"
    for batch in labels:
        assert ((0 <= batch) & (batch < source.num_classes)).all(), f"label out of range: {batch}"
    return "accepted"


# Config overrides ------------------------------------------------------------------------------

def _config_keys():
    from lrfr_tf.train.defaults import base_config

    return sorted(base_config("x", "classifier").flatten())


_text_value = st.one_of(
    st.text(max_size=12),
    st.integers().map(str),
    st.floats().map(str),
    st.lists(st.one_of(st.integers(-5, 300), st.floats(allow_nan=False), st.text(max_size=3)), max_size=3).map(str),
    st.lists(st.integers(0, 300).map(str), max_size=3).map(",".join),
    st.builds(lambda d: json.dumps(d), st.dictionaries(st.sampled_from(["sizes", "every", "keep", "init", "modes", "x",
                                                                         "image_size", "batch_size", "flip", ""]),
                                                       _json_value, max_size=3)),
    st.sampled_from(["[", "]", "[[1]]", "{}", '{"a": 1}', "1,2,abc", "١٢", "１１２", "true", "none", "None", "nan", "inf",
                     "1e999", "[" * 300, "9" * 5000, "-", "0x10", "1_0", "(1, 2)", "{'a'}", "b'x'", "''"]),
)

config_inputs = st.lists(
    st.tuples(
        st.one_of(st.sampled_from(_config_keys()), st.text(max_size=8),
                  st.sampled_from(_config_keys()).map(lambda k: k + ".x"),
                  st.sampled_from(["model.init", "stages", "scales", "data", "eval.sizes", "stages.x_kwargs.y",
                                   "model.x_kwargs.lr", "", ".", "a..b", "=", "data.image_size"])),
        _text_value,
    ).map(lambda kv: f"{kv[0]}={kv[1]}"),
    min_size=1,
    max_size=3,
)


def run_config(overrides):
    from lrfr_tf.train.config import Config, apply_overrides
    from lrfr_tf.train.defaults import base_config

    config = base_config("x", "classifier")
    before = config.flatten()
    emptied = set()  # list keys set to [] on the way: an empty list has no element type to keep
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        parts = key.split(".")
        prefixes = [repr(".".join(parts[: i + 1])) for i in range(len(parts))]  # the key, or the part of it that is wrong
        result = expect_clear(lambda: apply_overrides(config, [item]), prefixes + [key or "key=value"],
                              allowed=(ValueError, KeyError), what=f"apply_overrides({item!r})")
        if isinstance(result, BaseException):
            continue
        emptied.update(k for k, v in config.flatten().items() if v == [])
    assert isinstance(config, Config)
    after = config.flatten()
    for key, old in before.items():  # also after group overrides ('--config.eval={...}'): leaves keep their types
        if key not in after or "_kwargs" in key or key in emptied:
            continue
        new = after[key]
        if isinstance(old, bool):
            assert isinstance(new, bool), f"{key}: bool became {new!r}"
        elif isinstance(old, int):
            assert type(new) is int, f"{key}: int became {new!r}"
        elif isinstance(old, float):
            assert isinstance(new, float), f"{key}: float became {new!r}"
        elif isinstance(old, str):
            assert isinstance(new, str), f"{key}: str became {new!r}"
        elif isinstance(old, list) and old and all(type(v) is int for v in old):
            assert isinstance(new, list) and all(type(v) is int for v in new), f"{key}: {old!r} became {new!r}"
    config.to_json()  # the resolved config must still serialise
    return "done"


STRATEGIES = {
    "image": image_inputs,
    "pairs": pairs_inputs,
    "protocol": protocol_examples,
    "bin": bin_inputs,
    "tfrecord": tfrecord_inputs,
    "config": config_inputs,
}
RUNNERS = {
    "image": run_image,
    "pairs": run_pairs,
    "protocol": run_protocol,
    "bin": run_bin,
    "tfrecord": run_tfrecord,
    "config": run_config,
}
