"""The house rules of ARCHITECTURE.md, checked on the source: imports only go down the floors, the edge-side
modules import no TensorFlow, and recipes are found, never imported by the library."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "lrfr_tf"

#: Floor of each top-level part of lrfr_tf (ARCHITECTURE.md). A module may import its own part and lower floors.
FLOORS = {
    "__init__": 0, "preprocessing": 0, "registry": 0, "cli_errors": 0, "cli_logging": 0, "platform_checks": 0,
    "model_metadata": 0, "provenance": 0, "packaged_models": 0, "litert": 0, "zoo": 0,
    "data": 1, "models": 1, "losses": 1, "search": 1,
    "eval": 2, "evaluate": 2, "calibrate": 2,
    "train": 3,
    "export": 4, "serve": 4, "edge": 4, "qat": 4,
}
#: Ground-floor modules may use each other. Other same-floor imports that are part of the design (a peer's lower-level helper), kept explicit.
ALLOWED_PEERS = {("models", "data"), ("losses", "models"), ("losses", "data"), ("evaluate", "eval"), ("calibrate", "eval"),
                 ("qat", "export")}
TF_FREE = ("search", "model_metadata", "edge", "registry", "packaged_models", "litert", "cli_errors", "cli_logging", "provenance",
           "zoo")
#: Modules a TF-free part may use although some functions of theirs import TensorFlow when called (their TF paths;
#: the edge runtime uses the NumPy ones): module -> those functions. Nothing else in them may import TF.
TF_AT_CALL = {"lrfr_tf.preprocessing": ("normalize", "prepare"), "lrfr_tf.data.images": ("decode_image",),
              "lrfr_tf.data.folders": (), "lrfr_tf.data.splits": ()}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: pathlib.Path):
    """Every module name imported anywhere in the file (top level and inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = "lrfr_tf." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = package.split(".")[: -node.level]
                yield ".".join(base + ([node.module] if node.module else []))
            elif node.module:
                yield node.module
                for alias in node.names:  # `from lrfr_tf import export` names a part too
                    if node.module == "lrfr_tf":
                        yield f"lrfr_tf.{alias.name}"


FILES = sorted(ROOT.rglob("*.py"))


def test_every_part_has_a_floor():
    parts = {_part("lrfr_tf." + ".".join(p.relative_to(ROOT).with_suffix("").parts)) for p in FILES}
    assert parts <= set(FLOORS), f"parts without a floor in ARCHITECTURE.md / this test: {parts - set(FLOORS)}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_only_go_down(path):
    me = _part("lrfr_tf." + ".".join(path.relative_to(ROOT).with_suffix("").parts))
    bad = []
    for name in _imports(path):
        if name.split(".")[0] == "recipes":
            bad.append(f"{name} (recipes are found by lrfr_tf.train.recipes, never imported)")
        if not name.startswith("lrfr_tf.") and name != "lrfr_tf":
            continue
        other = _part(name)
        if other == me or FLOORS[other] < FLOORS[me] or FLOORS[other] == FLOORS[me] == 0 or (me, other) in ALLOWED_PEERS:
            continue
        bad.append(f"{name} (floor {FLOORS[other]}) from {me} (floor {FLOORS[me]})")
    assert not bad, f"{path.relative_to(ROOT.parent)} imports up or sideways: {bad}"


@pytest.mark.parametrize("part", TF_FREE)
def test_tf_free_parts_import_no_tensorflow(part):
    paths = [p for p in FILES if _part("lrfr_tf." + ".".join(p.relative_to(ROOT).with_suffix("").parts)) == part]
    for path in paths:
        for name in _imports(path):
            assert name.split(".")[0] not in ("tensorflow", "keras"), f"{path.relative_to(ROOT.parent)} imports {name}"
            if name.startswith("lrfr_tf."):
                assert _part(name) in TF_FREE or name in TF_AT_CALL, \
                    f"{path.relative_to(ROOT.parent)} imports {name}, which may import TF"


@pytest.mark.parametrize("module", sorted(TF_AT_CALL))
def test_tf_at_call_modules_import_tensorflow_only_in_the_listed_functions(module):
    path = ROOT.joinpath(*module.split(".")[1:]).with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    allowed = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in TF_AT_CALL[module]:
            allowed |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        for name in names:
            if name.split(".")[0] in ("tensorflow", "keras"):
                assert id(node) in allowed, f"{path.relative_to(ROOT.parent)} imports {name} outside {TF_AT_CALL[module]} (line {node.lineno})"
            if name.startswith("lrfr_tf."):
                assert _part(name) in TF_FREE or name in TF_AT_CALL, f"{path.relative_to(ROOT.parent)} imports {name}"
