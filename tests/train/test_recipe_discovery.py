"""Recipes are found by path, by name in $LRFR_RECIPES_PATH or the installed recipes/ folder, and by entry
point, and the library never imports the top-level ``recipes`` package."""

import importlib.metadata
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from lrfr_tf.train import recipes

REPO = pathlib.Path(__file__).resolve().parents[2]

MY_RECIPE = textwrap.dedent('''
    """My recipe. Command: python -m lrfr_tf.train --recipe=my_method"""
    from lrfr_tf.train import defaults as D


    def get_config():
        config = D.base_config("my_method", method="classifier")
        config.data.batch_size = 24
        return config
''')


def test_the_library_never_imports_the_recipes_package():
    code = textwrap.dedent(f'''
        import sys
        from lrfr_tf.train import recipes
        names = recipes.recipe_names()
        assert "bt" in names and "quickstart" in names, names
        assert recipes.load_config("bt").name == "bt"
        assert recipes.load_config({str(REPO / "tests" / "train" / "tiny_recipe.py")!r}).name == "tiny"
        imported = [m for m in sys.modules if m == "recipes" or m.startswith("recipes.")]
        assert not imported, imported  # the package (recipes/__init__.py) never ran
        print("ok")
    ''')
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert p.returncode == 0 and "ok" in p.stdout, p.stderr[-3000:]


def test_user_folder_on_the_recipes_path(tmp_path, monkeypatch):
    (tmp_path / "my_method.py").write_text(MY_RECIPE)
    (tmp_path / "bt.py").write_text(MY_RECIPE.replace('"my_method"', '"my_bt"'))  # a user file shadows a built-in
    monkeypatch.setenv(recipes.PATH_VARIABLE, str(tmp_path))
    assert {"my_method", "bt", "quickstart"} <= set(recipes.recipe_names())
    assert recipes.load_config("my_method", ["data.batch_size=12"]).data.batch_size == 12
    assert recipes.load_config("bt").name == "my_bt"
    assert recipes.load_config(str(tmp_path / "my_method.py")).name == "my_method"


@pytest.mark.parametrize("value", ["ep_recipe_module", "ep_recipe_module:get_config"])
def test_entry_point_recipes(tmp_path, monkeypatch, value):
    (tmp_path / "ep_recipe_module.py").write_text(MY_RECIPE)
    monkeypatch.syspath_prepend(str(tmp_path))
    point = importlib.metadata.EntryPoint(name="from_plugin", value=value, group=recipes.ENTRY_POINT_GROUP)
    real = importlib.metadata.entry_points
    monkeypatch.setattr(recipes.importlib.metadata, "entry_points",
                        lambda **kw: [point] if kw.get("group") == recipes.ENTRY_POINT_GROUP else real(**kw))
    assert "from_plugin" in recipes.recipe_names()
    assert recipes.load_config("from_plugin").name == "my_method"


def test_unknown_recipe_lists_the_known_ones():
    with pytest.raises(KeyError, match=r"unknown recipe 'nope'; recipes: .*quickstart"):
        recipes.load_recipe("nope")
