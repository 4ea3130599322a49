"""Degradation spec strings and configs: grammar, round trips, presets, errors naming op and argument."""

import copy
import json
import pickle

import pytest

from lrfr_tf.data import degrade
from lrfr_tf.data.degrade import OPS, PRESETS, build, parse


def test_issue_example_parses():
    deg = parse("resolution(sizes=[7,14,20], probs=[1,1,2])|jpeg(30,90)|resize(112)")
    assert [op.name for op in deg.ops] == ["resolution", "jpeg", "resize"]
    assert deg.ops[0].sampler.sizes == [(7, 7), (14, 14), (20, 20)]
    assert deg.ops[0].sampler.probs == pytest.approx([0.25, 0.25, 0.5])
    assert (deg.ops[1].min_quality, deg.ops[1].max_quality) == (30, 90)
    assert deg.ops[2].size == (112, 112)
    assert deg.output_hw((112, 112)) == (112, 112)


def test_values_of_every_kind():
    deg = parse(" resolution ( sizes = [ 7x6 , 11x8, 16 ] , probs=[0.5, 2.5e-1, 1] ) | resize( 112x96 ,"
                " kernel='bilinear', antialias=TRUE )|flip|blur(1.5)")
    assert deg.ops[0].sampler.sizes == [(7, 6), (11, 8), (16, 16)]
    assert deg.ops[1].get_config() == {"size": (112, 96), "kernel": "bilinear", "antialias": True}
    assert deg.ops[2].p == 0.5
    assert deg.ops[3].min_sigma == 1.5 and deg.ops[3].max_sigma is None
    assert parse("resize(none)").ops[0].size is None
    assert parse('resolution(size=7, kernel="area", antialias=false)').ops[0].antialias is False


@pytest.mark.parametrize("spec", sorted(PRESETS.values()) + [
    "flip|crop(0.9, 1.0)|blur(0.5, 2)|resolution(low=8, high=32, log=true, aspect=0.857)|poisson_noise(100, 1000)"
    "|gaussian_noise(1, 5)|jpeg(30, 90)|resize(112x96, kernel=bilinear)",
    "resolution(preset=multi_scale, kernel=area)|resize()",
])
def test_spec_and_config_round_trips(spec):
    deg = parse(spec)
    assert parse(deg.spec).spec == deg.spec
    assert build(deg.get_config()).spec == deg.spec
    config = json.loads(json.dumps(deg.get_config()))  # configs survive JSON (tuples become lists)
    assert json.loads(json.dumps(build(config).get_config())) == config
    assert degrade.Degradation.from_config(deg.get_config()).spec == deg.spec
    assert repr(deg) == f"Degradation({deg.spec!r})"


def test_presets_expand_and_do_not_shadow_ops():
    assert not set(PRESETS) & set(OPS.names())
    assert parse("octaves_7_112").spec == parse("resolution(preset=octaves_7_112)|resize()").spec
    assert [op.name for op in parse("camera").ops] == [
        "blur", "resolution", "poisson_noise", "gaussian_noise", "jpeg", "resize"]


def test_build_accepts_mixed_lists_and_objects():
    deg = build(["flip", {"op": "jpeg", "min_quality": 40}, degrade.GaussianNoise(2.0)])
    assert [op.name for op in deg.ops] == ["flip", "jpeg", "gaussian_noise"]
    assert build(deg) is deg
    assert build(degrade.RandomFlip()).ops[0].name == "flip"
    assert len(build([])) == 0


def test_degradations_copy_and_pickle():
    deg = parse("camera")
    for clone in (copy.deepcopy(deg), pickle.loads(pickle.dumps(deg))):
        assert clone.spec == deg.spec
        assert clone.get_config() == deg.get_config()


def test_op_config_keeps_given_arguments_by_name():
    assert degrade.JpegCompression(30, 90).get_config() == {"min_quality": 30, "max_quality": 90}
    assert parse("jpeg(max_quality=90, min_quality=30)").spec == "jpeg(min_quality=30, max_quality=90)"
    assert OPS.create("blur", min_sigma=1.0).get_config() == {"min_sigma": 1.0}


@pytest.mark.parametrize("spec, message", [
    ("", "expected an op name"),
    ("jpeg(30,", "unexpected end of spec"),
    ("jpeg(30 90)", "expected ',' or ')'"),
    ("jpeg(30)|", "expected an op name"),
    ("jpeg(30)) ", "expected '|' or end of spec"),
    ("jpeg(30) blur(1)", "expected '|' or end of spec"),
    ("jpg(30)", "unknown op 'jpg' (did you mean 'jpeg'?)"),
    ("bt_m", "unknown preset or op 'bt_m'; presets: octaves_7_112, maug_7_14_20, multi_scale, camera; ops: "),
    ("octaves_7_11", "unknown preset or op 'octaves_7_11' (did you mean 'octaves_7_112'?)"),
    (" camra ", "unknown preset or op 'camra' (did you mean 'camera'?)"),
    ("jpeg(qualty=30)", "jpeg: unexpected argument 'qualty'"),
    ("jpeg(30, 40, 50)", "jpeg: too many positional arguments"),
    ("jpeg()", "jpeg: missing a required argument: 'min_quality'"),
    ("jpeg(min_quality=3, min_quality=4)", "given twice"),
    ("jpeg(min_quality=3, 4)", "positional argument after keyword"),
    ("jpeg(120)", "jpeg: min_quality must be in [1, 100], got 120"),
    ("jpeg(50.5)", "jpeg: min_quality must be an int"),
    ("jpeg(90, 30)", "jpeg: max_quality (30) must be >= min_quality (90)"),
    ("blur(-1)", "blur: min_sigma must be in"),
    ("blur(sigma)", "blur: min_sigma must be a number, got 'sigma'"),
    ("flip(2)", "flip: p must be in [0.0, 1.0]"),
    ("crop(0, 1)", "crop: min_scale must be in"),
    ("resolution(sizes=[7,14], probs=[1])", "resolution: probs must be a list of 2"),
    ("resolution(size=7, low=3, high=9)", "resolution: give exactly one of"),
    ("resolution(7, kernel=lanczos)", "resolution: kernel must be one of"),
    ("resize(11x8x3)", "unexpected character"),
    ("resize(7 $)", "unexpected character '$'"),
    ("__import__('os').system('true')", "unexpected character '.'"),
    ("jpeg(__import__)", "jpeg: min_quality must be an int, got '__import__'"),
    ("gaussian_noise(1, 5, seed=3)", "gaussian_noise: unexpected argument 'seed'"),
])
def test_spec_errors_name_the_op_and_argument(spec, message):
    with pytest.raises(ValueError) as info:
        parse(spec)
    assert message in str(info.value)
    assert spec.strip() in str(info.value) or spec == ""  # the message shows the spec with a caret


def test_error_column_points_at_the_op():
    with pytest.raises(ValueError) as info:
        parse("flip|blur(1)|jpeg(300)")
    assert "op at column 14" in str(info.value)
    lines = str(info.value).splitlines()
    assert lines[-1].index("^") == lines[-2].index("jpeg")


@pytest.mark.parametrize("config, error, message", [
    ([{"min_quality": 3}], ValueError, "has no 'op' key"),
    ([{"op": "jpeg", "quality": 3}], ValueError, "config entry 0: jpeg: unexpected argument 'quality'"),
    ([42], TypeError, "entry 0 must be"),
    (42, TypeError, "spec string or a list"),
])
def test_config_errors(config, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(config)


def test_parse_rejects_non_strings():
    with pytest.raises(TypeError):
        parse(["jpeg(30)"])
    with pytest.raises(TypeError, match="Op instances"):
        degrade.Degradation(["jpeg(30)"])
