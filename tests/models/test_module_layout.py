"""Module layout of the package: every module name says what it holds (no two share a file name), and no
import cycle runs through the models or losses floors (imports inside functions count too)."""

import ast
import collections
import pathlib

import lrfr_tf

PACKAGE = pathlib.Path(lrfr_tf.__file__).resolve().parent
CHECKED_FLOORS = ("lrfr_tf.models", "lrfr_tf.losses")


def module_files():
    """Dotted module name -> file, for every module of the package."""
    files = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def imported_modules(name, path, known):
    """The package modules ``name`` imports anywhere in its file (``from a import b`` counts a.b if a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m in known and m != name}


def import_graph():
    files = module_files()
    return {name: imported_modules(name, path, files) for name, path in files.items()}


def cycle_through(graph, start):
    """One import cycle through ``start`` as a list of modules, or None."""
    parents = {start: None}
    queue = collections.deque([start])
    while queue:
        current = queue.popleft()
        for nxt in sorted(graph[current]):
            if nxt == start:
                path = [current]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])
                return [start] + path[::-1][1:] + [start]
            if nxt not in parents:
                parents[nxt] = current
                queue.append(nxt)
    return None


def test_no_two_modules_share_a_file_name():
    by_name = collections.defaultdict(list)
    for name, path in module_files().items():
        if path.name not in ("__init__.py", "__main__.py"):
            by_name[path.name].append(name)
    shared = {file: names for file, names in by_name.items() if len(names) > 1}
    assert not shared, f"module file names used more than once: {shared}"


def test_no_import_cycle_through_models_or_losses():
    graph = import_graph()
    assert "lrfr_tf.models.tflite_import" in graph["lrfr_tf.models.mobilefacenet"]  # the graph sees local imports
    cycles = [cycle_through(graph, m) for m in graph if m.startswith(CHECKED_FLOORS)]
    cycles = [" -> ".join(c) for c in cycles if c]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycle_through(graph, "a") == ["a", "b", "c", "a"]
    assert cycle_through(graph, "d") is None
