"""Finding recipes: ``recipes/<name>.py`` files with ``get_config()`` (or a path to such a file)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
from typing import List, Sequence

from lrfr_tf.train.config import Config, apply_overrides, resolve_scale


def recipe_names() -> List[str]:
    import recipes

    return sorted(m.name for m in pkgutil.iter_modules(recipes.__path__) if not m.name.startswith("_"))


def load_recipe(name: str):
    """The module of recipe ``name`` (from the ``recipes`` package) or of a ``.py`` path."""
    if name.endswith(".py"):
        if not os.path.isfile(name):
            raise FileNotFoundError(f"{name}: no such recipe file")
        spec = importlib.util.spec_from_file_location(f"recipe_{os.path.basename(name)[:-3]}", name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    known = recipe_names()
    if name not in known:
        raise KeyError(f"unknown recipe {name!r}; recipes: {', '.join(known)}")
    return importlib.import_module(f"recipes.{name}")


def load_config(name: str, overrides: Sequence[str] = ()) -> Config:
    """``get_config()`` of the recipe, command-line overrides applied, then its scale resolved."""
    module = load_recipe(name)
    if not hasattr(module, "get_config"):
        raise AttributeError(f"recipe {name!r} ({module.__file__}) has no get_config()")
    config = module.get_config()
    apply_overrides(config, list(overrides))  # may select the scale
    resolve_scale(config)
    apply_overrides(config, list(overrides))  # the command line wins over the scale
    return config
