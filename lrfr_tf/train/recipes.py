"""Finding recipes without importing upward: recipe files are found and loaded by path.

A recipe is a plain Python file with ``get_config()``. ``--recipe`` takes:

* a path to such a file (``--recipe=path/to/my_recipe.py``);
* a name, looked up as ``<name>.py`` in the folders of ``$LRFR_RECIPES_PATH`` (``os.pathsep``-separated;
  your own recipes), then in the installed ``recipes/`` folder of this repository (located with
  ``importlib.util.find_spec``, which does not execute it);
* a name registered by another package under the entry-point group ``lrfr_tf.recipes``
  (``[project.entry-points."lrfr_tf.recipes"] my_method = "my_pkg.my_recipe"``: a module with
  ``get_config`` or a ``get_config`` function itself).

The library never imports the top-level ``recipes`` package: each file is executed as its own module.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import types
from typing import Dict, List, Sequence

from lrfr_tf.train.config import Config, apply_overrides, resolve_scale

ENTRY_POINT_GROUP = "lrfr_tf.recipes"
PATH_VARIABLE = "LRFR_RECIPES_PATH"


def recipe_dirs() -> List[str]:
    """The folders searched for ``<name>.py``, in order."""
    dirs = [d for d in os.environ.get(PATH_VARIABLE, "").split(os.pathsep) if d]
    try:
        spec = importlib.util.find_spec("recipes")  # locates the installed folder; runs nothing
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        dirs += list(spec.submodule_search_locations)
    return [d for d in dirs if os.path.isdir(d)]


def _files() -> Dict[str, str]:
    """name -> file of every recipe file in ``recipe_dirs()`` (earlier folders win)."""
    found: Dict[str, str] = {}
    for d in recipe_dirs():
        for entry in sorted(os.listdir(d)):
            name, ext = os.path.splitext(entry)
            if ext == ".py" and not name.startswith("_") and name not in found:
                found[name] = os.path.join(d, entry)
    return found


def _entry_points() -> Dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def recipe_names() -> List[str]:
    return sorted(set(_files()) | set(_entry_points()))


def _load_file(path: str, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"lrfr_tf_recipe_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_recipe(name: str):
    """The module (or object with ``get_config``) of recipe ``name``, a ``.py`` path or a registered name."""
    if name.endswith(".py"):
        if not os.path.isfile(name):
            raise FileNotFoundError(f"{name}: no such recipe file")
        return _load_file(name, os.path.basename(name)[:-3])
    files = _files()
    if name in files:
        return _load_file(files[name], name)
    points = _entry_points()
    if name in points:
        loaded = points[name].load()
        if isinstance(loaded, types.ModuleType) or hasattr(loaded, "get_config"):
            return loaded
        if callable(loaded):
            return types.SimpleNamespace(get_config=loaded, __file__=points[name].value)
        raise ValueError(f"recipe {name!r} ({points[name].value}, entry point group {ENTRY_POINT_GROUP}) "
                         f"is neither a module nor a get_config function")
    raise KeyError(f"unknown recipe {name!r}; recipes: {', '.join(recipe_names()) or '(none)'} "
                   f"(or pass a path to a recipe .py file)")


def load_config(name: str, overrides: Sequence[str] = ()) -> Config:
    """``get_config()`` of the recipe, command-line overrides applied, then its scale resolved."""
    module = load_recipe(name)
    if not hasattr(module, "get_config"):
        raise AttributeError(f"recipe {name!r} ({getattr(module, '__file__', '?')}) has no get_config()")
    config = module.get_config()
    apply_overrides(config, list(overrides))  # may select the scale
    resolve_scale(config)
    apply_overrides(config, list(overrides))  # the command line wins over the scale
    return config
