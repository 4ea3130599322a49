"""Config: typed dotted overrides, unknown keys, open *_kwargs groups, scales, JSON; the CLI splitter."""

import json

import pytest

from lrfr_tf.train.__main__ import split_config_args
from lrfr_tf.train.config import Config, apply_overrides, resolve_scale
from lrfr_tf.train.recipes import load_config, recipe_names


def _config():
    return Config(seed=0, lr=0.1, xla=False, name="x", sizes=[8, 14], opt=Config(name="sgd", momentum=0.9),
                  model=Config(head_kwargs={"scale": 64.0}), scale="full",
                  scales=Config(smoke={"seed": 5, "opt": {"momentum": 0.5}, "model": {"head_kwargs": {"margin": 0.2}}}))


def test_overrides_are_typed_by_the_value_they_replace():
    c = _config()
    apply_overrides(c, ["seed=3", "lr=1e-3", "xla=true", "name=abc", "sizes=[7, 28]", "opt.name=adamw"])
    assert (c.seed, c.lr, c.xla, c.name, c.sizes, c.opt.name) == (3, 1e-3, True, "abc", [7, 28], "adamw")
    assert isinstance(c.lr, float) and isinstance(c.seed, int)
    apply_overrides(c, ["sizes=5,6", "xla=0"])
    assert c.sizes == [5, 6] and c.xla is False


@pytest.mark.parametrize("item, match", [("seed=abc", "integer"), ("xla=maybe", "boolean"), ("lr=fast", "number"),
                                         ("nope=1", "unknown config key 'nope'"), ("opt.beta=1", "'beta' is not one of name, momentum"),
                                         ("seed", "key=value"), ("seed.x=1", "leaf")])
def test_bad_overrides_are_errors(item, match):
    with pytest.raises((ValueError, KeyError), match=match):
        apply_overrides(_config(), [item])


def test_kwargs_groups_accept_new_keys():
    c = _config()
    apply_overrides(c, ["model.head_kwargs.margin=0.3", "model.head_kwargs.scale=32"])
    assert c.model.head_kwargs.to_dict() == {"scale": 32.0, "margin": 0.3}


def test_scale_merges_groups_and_json_round_trip():
    c = resolve_scale(_config_with_scale("smoke"))
    assert c.seed == 5 and c.opt.to_dict() == {"name": "sgd", "momentum": 0.5}
    assert c.model.head_kwargs.to_dict() == {"scale": 64.0, "margin": 0.2}
    assert Config.from_json(c.to_json()) == c
    with pytest.raises(ValueError, match="unknown scale 'big'"):
        resolve_scale(_config_with_scale("big"))


def _config_with_scale(scale):
    c = _config()
    c.scale = scale
    return c


def test_load_config_command_line_wins_over_scale():
    c = load_config("arcface", ["scale=smoke", "data.batch_size=4"])
    assert c.scale == "smoke" and c.data.batch_size == 4
    assert c.data.train.endswith("sample/celeba") and c.model.backbone_kwargs.units == [1, 1, 1, 1]
    assert load_config("arcface").data.batch_size == 512
    with pytest.raises(KeyError, match="unknown recipe"):
        load_config("no_such_recipe")


def test_every_recipe_documents_command_data_and_expectation():
    from lrfr_tf.train.recipes import load_recipe

    for name in recipe_names():
        doc = load_recipe(name).__doc__
        assert f"--recipe={name}" in doc and "Expect" in doc, name
        assert "Data" in doc or "data" in doc, name
        json.dumps(load_config(name).to_dict())  # serialisable


def test_cli_splits_config_overrides():
    overrides, rest = split_config_args(["prog", "--recipe=bt", "--config.seed=3", "--workdir=/x", "--config.data.flip=false"])
    assert overrides == ["seed=3", "data.flip=false"] and rest == ["prog", "--recipe=bt", "--workdir=/x"]
    with pytest.raises(ValueError, match="--config.key=value"):
        split_config_args(["prog", "--config.seed"])


@pytest.mark.parametrize("item, match", [
    ("data.image_size=abc", r"list of integers for config key 'data.image_size'.*'abc'"),
    ("data.image_size=96,x", r"list of integers for config key 'data.image_size'.*'x'"),
    ("eval.sizes=[8, 1.5]", r"list of integers for config key 'eval.sizes'.*1.5"),
    ("data.image_size=１１２,１１２", r"list of integers for config key 'data.image_size'"),
    ("seed=١", r"integer for config key 'seed'"),
    ("data.degrade_fraction=٠.5", r"number for config key 'data.degrade_fraction'"),
    ("data.image_size=[[1, 2]]", r"list of integers for config key 'data.image_size'"),
])
def test_list_and_number_overrides_are_typed_element_wise(item, match):
    from lrfr_tf.train.defaults import base_config

    with pytest.raises(ValueError, match=match):
        apply_overrides(base_config("x", "classifier"), [item])


def test_list_overrides_keep_element_types():
    c = Config(ints=[112, 112], floats=[0.5, 1.0], strs=["cr"], flags=[True], mixed=[1, "a"], empty=[])
    apply_overrides(c, ["ints=96,96", "floats=1,2", "strs=cr,er", "flags=false,true", "mixed=x,2", "empty=[1, 'a']"])
    assert c.ints == [96, 96] and all(type(v) is int for v in c.ints)
    assert c.floats == [1.0, 2.0] and all(type(v) is float for v in c.floats)
    assert (c.strs, c.flags, c.mixed, c.empty) == (["cr", "er"], [False, True], ["x", "2"], [1, "a"])
    apply_overrides(c, ["ints=[64.0, 64]"])  # an integral float is an int
    assert c.ints == [64, 64] and all(type(v) is int for v in c.ints)


def test_group_json_overrides_merge_typed_leaves():
    from lrfr_tf.train.defaults import base_config

    c = base_config("x", "classifier")
    keep = c.checkpoint.keep
    apply_overrides(c, ['checkpoint={"every": 10}'])
    assert c.checkpoint.every == 10 and c.checkpoint.keep == keep  # merged, not replaced
    for item, match in [('eval={"sizes": [":"]}', r"list of integers for config key 'eval.sizes'"),
                        ('eval={"nope": 1}', r"unknown config key 'eval.nope'"),
                        ('model={"init": 5}', r"string for config key 'model.init'"),
                        ("stages=" + "9" * 5000, r"config key 'stages' is a group")]:
        with pytest.raises(ValueError, match=match):
            apply_overrides(c, [item])
    apply_overrides(c, ['stages={"a": {"b": 1}}'])  # an empty group is open
    assert c.stages.a.b == 1


def test_no_degradation_preset_is_named_like_a_recipe():
    """``--config.data.degrade=NAME`` and ``--recipe=NAME`` never mean two different things."""
    from lrfr_tf.data.degrade import PRESETS, SIZE_PRESETS

    recipes = set(recipe_names())
    assert {"arcface", "bt", "bt_m", "quickstart"} <= recipes
    assert not (set(PRESETS) | set(SIZE_PRESETS)) & recipes
