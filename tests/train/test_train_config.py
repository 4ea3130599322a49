"""Config: typed dotted overrides, unknown keys, open *_kwargs groups, scales, JSON; the CLI splitter."""

import ast
import json
import pathlib

import numpy as np
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


# ----------------------------------------------------------------------------- defaults declared once

TRAIN = pathlib.Path(__file__).resolve().parents[2] / "lrfr_tf" / "train"
RECIPES = pathlib.Path(__file__).resolve().parents[2] / "recipes"
# Not config reads: TF_CONFIG's cluster JSON (strategy.py), the recipe search path variable (recipes.py).
NOT_CONFIG = {("strategy.py", 'json.loads(raw).get("cluster", {})'), ("strategy.py", 'cluster.get("worker", [])'),
              ("strategy.py", 'cluster.get("chief", [])'), ("recipes.py", 'os.environ.get(PATH_VARIABLE, "")')}


def _is_literal(node) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _is_literal(node.operand)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_is_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_literal(k) and _is_literal(v) for k, v in zip(node.keys, node.values))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):  # Config(), dict(), list() ...
        return not node.keywords and all(_is_literal(a) for a in node.args)
    return isinstance(node, ast.Constant)


def literal_default_gets(source: str):
    """Source of every ``x.get(key, <literal>)`` call: a default repeated where the key is read."""
    return [ast.get_source_segment(source, node) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and len(node.args) + len(node.keywords) == 2 and _is_literal((node.args + [k.value for k in node.keywords])[-1])]


def test_no_config_default_is_repeated_where_it_is_read():
    """Defaults live in defaults.py (base_config, backbone_config, optimizer): no ``config.get(key, default)``."""
    assert literal_default_gets('c.data.get("flip", True)\nc.get("x", -1.5)\nc.get("k", Config())\nc.get("k", [0])'
                                '\nc.get("k", default={})') == [
        'c.data.get("flip", True)', 'c.get("x", -1.5)', 'c.get("k", Config())', 'c.get("k", [0])',
        'c.get("k", default={})']
    assert literal_default_gets('c.get("k")\nc.get(k, fallback)\nd.get(c.metric, -math.inf)') == []
    found = []
    for path in sorted(TRAIN.rglob("*.py")) + sorted(RECIPES.glob("*.py")):
        if path.name == "defaults.py":  # where the defaults are declared
            continue
        for call in literal_default_gets(path.read_text()):
            if (path.name, call) not in NOT_CONFIG:
                found.append(f"{path.relative_to(TRAIN.parents[1])}: {call}")
    assert not found, "declare the key in lrfr_tf/train/defaults.py and read it without a default:\n" + "\n".join(found)


def test_every_key_the_methods_read_is_declared():
    """Each method's base config has its group; a recipe's group keeps every declared key."""
    from lrfr_tf.train import defaults as D

    for method, groups in D.METHOD_GROUPS.items():
        config = D.base_config("x", method)
        assert set(groups) <= set(config.keys()), method
        assert config.model.to_dict() == D.model_config().to_dict()
    for name in recipe_names():
        config = load_config(name)
        for group, keys in D.METHOD_GROUPS[config.method].items():
            assert set(keys) <= set(config[group].keys()), (name, group)
        assert set(D.model_config().keys()) <= set(config.model.keys()), name
        for stage in config.stages.values():
            for update in stage.updates.values():
                assert set(D.optimizer().keys()) == set(update.optimizer.keys()), name
    with pytest.raises(KeyError, match="optimizer config has no key 'momentun'"):
        D.optimizer("sgd", momentun=0.9)
    assert D.optimizer("rmsprop").momentum == 0.0 and D.optimizer("sgd").momentum == 0.9


def test_label_smoothing_from_the_command_line():
    from lrfr_tf.train import methods  # noqa: F401  (registers the methods)
    from lrfr_tf.train.method import METHODS

    overrides, rest = split_config_args(["--recipe=arcface", "--config.model.label_smoothing=0.1"])
    assert rest == ["--recipe=arcface"]
    config = load_config("arcface", overrides)
    assert config.model.label_smoothing == 0.1 and load_config("arcface").model.label_smoothing == 0.0
    ce = METHODS.get(config.method)(config, num_classes=4).ce
    logits = np.array([[4.0, 0.0, 1.0, -1.0], [0.5, 0.5, 3.0, 0.0]], np.float32)
    labels = np.array([0, 2])
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    target = 0.9 * np.eye(4)[labels] + 0.1 / 4
    np.testing.assert_allclose(ce.call(labels, logits).numpy(), -(target * log_p).sum(1), rtol=1e-5)
    with pytest.raises(ValueError, match="label_smoothing"):
        METHODS.get("classifier")(load_config("arcface", ["model.label_smoothing=1.5"]), num_classes=4)


@pytest.mark.parametrize("every, at_end, evaluated", [(2, True, [2, 3]), (2, False, [2]), (3, True, [3]),
                                                      (0, True, [3]), (0, False, [])])
def test_eval_every_and_at_end(tmp_path, monkeypatch, every, at_end, evaluated):
    """Evaluations at the multiples of eval.every and, with eval.at_end, at the last step, never twice."""
    from lrfr_tf.train.engine import Trainer
    from train_fixtures import tiny_config

    def evaluate(self, step):
        results = {"mean": step / 10}
        self.eval_history.append({"step": step, **results})
        return results

    monkeypatch.setattr(Trainer, "evaluate", evaluate)
    config = tiny_config(steps=3, eval__enabled=True, eval__every=every, eval__at_end=at_end, checkpoint__every=0)
    summary = Trainer(config, str(tmp_path)).run()
    assert [e["step"] for e in summary["eval_history"]] == evaluated
    assert summary.get("eval") == ({"mean": 0.3} if evaluated[-1:] == [3] else None)


def test_a_scale_group_marked_replace_replaces_the_group_whole():
    """``defaults.replace_group``: a scale's own list of stages instead of a merge into the recipe's."""
    from lrfr_tf.train import defaults as D

    config = D.base_config("x", "classifier")
    config.stages.train = D.stage(5, main=D.update(["backbone"], {"ce": 1.0}, D.optimizer()))
    config.scales.two = {"stages": D.replace_group({"warm": D.stage(2, main=D.update(["head"], {"ce": 1.0},
                                                                                      D.optimizer())).to_dict(),
                                                    "train": {"steps": 7}})}
    config.scales.merged = {"stages": {"train": {"steps": 9}}}
    two = config.copy()
    two.scale = "two"
    resolve_scale(two)
    assert list(two.stages.keys()) == ["warm", "train"] and two.stages.train.to_dict() == {"steps": 7}
    merged = config.copy()
    merged.scale = "merged"
    resolve_scale(merged)
    assert list(merged.stages.keys()) == ["train"] and merged.stages.train.steps == 9
    assert merged.stages.train.updates.main.train == ["backbone"]  # merged, not replaced
