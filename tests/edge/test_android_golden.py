"""The Kotlin core's golden files (android_demo/core/golden) are what the Python edge runtime writes today.

make_golden.py regenerates them from lrfr_tf.edge / lrfr_tf.preprocessing / lrfr_tf.litert into a temporary
folder; this test fails when the committed files differ (then the Kotlin core, tested against them by
android_demo/core/run_tests.sh, would be checked against a runtime that no longer exists): rerun
``python android_demo/core/golden/make_golden.py`` and the Kotlin tests.
"""

import importlib.util
import json
import math
import pathlib
import warnings
import zipfile

import pytest

from lrfr_tf import model_metadata

GOLDEN = pathlib.Path(__file__).resolve().parents[2] / "android_demo" / "core" / "golden"


def load_make_golden():
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_same(expected, actual, where="$"):
    """Equal JSON documents, floats to 1e-9 relative (SVDs of other LAPACK builds differ in the last bits)."""
    if isinstance(expected, float) or isinstance(actual, float):
        assert isinstance(actual, (int, float)) and isinstance(expected, (int, float)), f"{where}: {expected!r} vs {actual!r}"
        assert math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12), f"{where}: {expected!r} vs {actual!r}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and expected.keys() == actual.keys(), f"{where}: keys differ"
        for key in expected:
            assert_same(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), f"{where}: lengths differ"
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_same(e, a, f"{where}[{i}]")
    else:
        assert expected == actual, f"{where}: {expected!r} vs {actual!r}"


#: Pixels OpenCV computed (the warp of ``align``, the detector's area shrink): another major version of OpenCV rounds
#: differently (4.x warps in fixed point), so there they are left out of the comparison, with a warning; the Kotlin
#: tests always check the committed ones.
OPENCV_PIXELS = {"warp.json": ("face", "opencv"), "detector_input.json": ("input", "input_sha256", "opencv")}


def without_opencv_pixels(name, old, new):
    if name not in OPENCV_PIXELS or old.get("opencv", "").split(".")[0] == new.get("opencv", "").split(".")[0]:
        return old, new
    warnings.warn(f"{name}: made with OpenCV {old.get('opencv')}, this is {new.get('opencv')}: its pixels are not compared")

    def strip(doc):
        if isinstance(doc, dict):
            return {k: strip(v) for k, v in doc.items() if k not in OPENCV_PIXELS[name]}
        if isinstance(doc, list):
            return [strip(v) for v in doc]
        return doc

    return strip(old), strip(new)


def zip_members(path):
    with zipfile.ZipFile(path) as z:  # member bytes, not the zip's own timestamps
        return {name: z.read(name) for name in sorted(z.namelist())}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("golden")
    assert load_make_golden().main(["--out", str(out)]) == 0
    return out


def test_golden_files_are_the_ones_committed(regenerated):
    committed = sorted(str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*") if p.is_file() and p.suffix != ".py"
                       and "__pycache__" not in p.parts)
    fresh = sorted(str(p.relative_to(regenerated)) for p in regenerated.rglob("*") if p.is_file())
    assert committed == fresh
    for name in fresh:
        new, old = regenerated / name, GOLDEN / name
        if name.endswith(".json"):
            assert_same(*without_opencv_pixels(name, json.loads(old.read_text()), json.loads(new.read_text())), name)
        elif name == "bad/truncated.npz":  # half of a zip whose headers carry the time it was written
            assert old.stat().st_size == new.stat().st_size
        elif name.endswith(".npz") and zipfile.is_zipfile(new):
            assert zip_members(old) == zip_members(new), name
        elif name == "model_metadata.tflite":
            assert model_metadata.read_tflite_file(str(old)) == model_metadata.read_tflite_file(str(new))
        else:
            assert old.read_bytes() == new.read_bytes(), name


def test_golden_data_exercises_every_answer_and_the_hard_cases(regenerated):
    """What the Kotlin tests rely on being there: every kind of answer, a face in a gap of the hand table, a
    reflection-free fit of mirrored landmarks, quantised values that saturate."""
    decisions = json.loads((regenerated / "decisions.json").read_text())
    answers = {p[key]["answer"] for p in decisions["probes"] for key in ("hand", "default", "hand_empty_gallery")}
    assert {"too small", "unknown", "ann", "bob", "cid", "dee"} <= answers
    assert any(p["hand"]["bucket"] is None for p in decisions["probes"])
    cases = {c["name"]: c for c in json.loads((regenerated / "alignment.json").read_text())["cases"]}
    assert cases["mirrored"]["determinant"] > 0
    pre = {c["name"]: c for c in json.loads((regenerated / "preprocessing.json").read_text())["cases"]}
    assert {-128, 127} <= set(pre["int8_arcface"]["small"]["values"])
