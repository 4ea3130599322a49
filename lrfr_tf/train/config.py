"""Nested experiment configs with typed dotted overrides (big_vision / ml_collections style, no dependency).

A recipe's ``get_config()`` returns a ``Config``; the command line changes it with
``--config.a.b=value``. The new value is parsed to the type of the value it replaces
(bool, int, float, str, list); an unknown key is an error naming the known ones.
"""

from __future__ import annotations

import ast
import copy
import json
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Tuple

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class Config:
    """An ordered mapping with attribute access; nested mappings become ``Config``."""

    def __init__(self, items: Mapping[str, Any] | None = None, **kwargs: Any):
        object.__setattr__(self, "_items", {})
        for key, value in {**dict(items or {}), **kwargs}.items():
            self[key] = value

    # Mapping protocol -------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise ValueError(f"config keys must be non-empty strings without '.', got {key!r}")
        self._items[key] = _wrap(value)

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._items[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}; keys: {', '.join(self._items) or '(none)'}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Config({json.dumps(self.to_dict(), indent=2)})"

    def keys(self):
        return self._items.keys()

    def items(self):
        return self._items.items()

    def values(self):
        return self._items.values()

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    # Conversion -------------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        return {k: _unwrap(v) for k, v in self._items.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        return cls(json.loads(text))

    def copy(self) -> "Config":
        return Config(copy.deepcopy(self.to_dict()))

    def flatten(self, prefix: str = "") -> Dict[str, Any]:
        """{"a.b.c": leaf} for every leaf (a leaf is anything but a non-empty Config)."""
        out: Dict[str, Any] = {}
        for key, value in self._items.items():
            path = f"{prefix}{key}"
            if isinstance(value, Config) and len(value):
                out.update(value.flatten(path + "."))
            else:
                out[path] = _unwrap(value)
        return out

    # Dotted access ----------------------------------------------------------------------------
    def lookup(self, dotted: str, create: bool = False) -> Tuple["Config", str]:
        """The parent Config and last key of ``a.b.c``; errors name the missing part.

        Groups named ``*_kwargs`` (keyword arguments of a component) are open: with
        ``create=True`` a new key may be added to them.
        """
        parts = dotted.split(".")
        node: Config = self
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if not isinstance(child, Config):
                where = ".".join(parts[: i + 1])
                raise KeyError(_unknown(where, node, part) if part not in node else f"config key {where!r} is a leaf, not a group")
            node = child
        open_group = len(parts) > 1 and parts[-2].endswith("_kwargs")
        if parts[-1] not in node and not (create and open_group):
            raise KeyError(_unknown(dotted, node, parts[-1]))
        return node, parts[-1]

    def get_path(self, dotted: str) -> Any:
        node, key = self.lookup(dotted)
        return node[key]

    def set_path(self, dotted: str, value: Any) -> None:
        node, key = self.lookup(dotted)
        node[key] = value


def _unknown(where: str, node: Config, part: str) -> str:
    return f"unknown config key {where!r}: {part!r} is not one of {', '.join(node.keys()) or '(none)'}"


def _wrap(value: Any) -> Any:
    if isinstance(value, Config):
        return value
    if isinstance(value, Mapping):
        return Config(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _literal(text: str) -> Any:
    """``ast.literal_eval`` that raises only ValueError (also for deep nesting or huge input)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
        raise ValueError(str(e)) from None


def _element_kind(like: List[Any]) -> str | None:
    """The element type a list override must keep: "bool", "int", "float", "str", or None (permissive:
    an empty list, or elements of mixed or other types). Ints in a list of floats make it "float"."""
    if not like:
        return None
    if all(isinstance(v, bool) for v in like):
        return "bool"
    if any(isinstance(v, bool) for v in like):
        return None
    if all(isinstance(v, int) for v in like):
        return "int"
    if all(isinstance(v, (int, float)) for v in like):
        return "float"
    if all(isinstance(v, str) for v in like):
        return "str"
    return None


_KIND_NAMES = {"bool": "booleans", "int": "integers", "float": "numbers", "str": "strings"}


def _list_element(value: Any, kind: str) -> Any:
    """One element of a parsed list -> ``kind``; ValueError (message completed by the caller) if impossible."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().isascii():
            return int(value.strip())  # ValueError for "abc"
    elif kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and value.strip().isascii():
            return float(value.strip())
    elif kind == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    raise ValueError(value)


def _coerce(value: Any, like: Any, key: str) -> Any:
    """A JSON value -> the type of ``like`` (the rules of ``parse_value``), ValueError naming ``key``."""
    if isinstance(like, Config):
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object for config group {key!r}, got {value!r:.80}")
        return _merge_group(like, value, key)
    if like is None:
        return value
    if isinstance(like, str):
        if not isinstance(value, str):
            raise ValueError(f"expected a string for config key {key!r}, got {value!r:.80}")
        return value
    if isinstance(like, bool) and isinstance(value, bool):
        return value
    if isinstance(like, int) and not isinstance(like, bool) and isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(like, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(like, list) and isinstance(value, list):
        kind = _element_kind(like)
        if kind is None:
            return value
        try:
            return [_list_element(v, kind) for v in value]
        except (ValueError, OverflowError):
            raise ValueError(f"expected a list of {_KIND_NAMES[kind]} for config key {key!r}, got {value!r:.80}") from None
    raise ValueError(f"expected a {type(like).__name__} for config key {key!r}, got {value!r:.80}")


def _check_keys(value: Any, key: str) -> None:
    """Nested JSON objects under ``key`` must have keys a Config accepts (ValueError naming the path)."""
    if isinstance(value, Mapping):
        for name, v in value.items():
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(f"config keys must be non-empty strings without '.', got {name!r} in the JSON for {key!r}")
            _check_keys(v, f"{key}.{name}")
    elif isinstance(value, list):
        for v in value:
            _check_keys(v, key)


def _merge_group(like: Config, value: Mapping[str, Any], key: str) -> Dict[str, Any]:
    """A JSON object given for group ``key``, merged into the group's current values with every
    leaf typed like the one it replaces. An empty group or a ``*_kwargs`` group is open (takes
    new keys as given); in any other group an unknown key is an error."""
    merged = like.to_dict()
    open_group = not len(like) or key.rsplit(".", 1)[-1].endswith("_kwargs")
    for name, v in value.items():
        path = f"{key}.{name}" if key else name
        if not name or "." in name:
            raise ValueError(f"config keys must be non-empty strings without '.', got {name!r} in the JSON for {key!r}")
        if name not in like:
            if not open_group:
                raise ValueError(f"unknown config key {path!r}: {name!r} is not one of {', '.join(like.keys())}")
            _check_keys(v, path)
            merged[name] = v
            continue
        old = like[name]
        merged[name] = _coerce(v, old, path)
        if isinstance(merged[name], Config):
            merged[name] = merged[name].to_dict()
    return merged


def parse_value(text: str, like: Any, key: str = "") -> Any:
    """Parse command-line ``text`` to the type of ``like`` (the value it replaces).

    bool: true/false/1/0/yes/no/on/off; int and float: ASCII numbers (``int`` would also
    take '١' or '１'); str: the text; list: a Python/JSON literal (``[7, 28]``) or
    comma-separated items (``7,28``), each element parsed to the type of the existing
    elements (ints stay ints, floats accept ints, bools take true/false; an empty or
    mixed list accepts anything); a group: a JSON object. Errors are ValueErrors
    naming ``key`` and the text.
    """
    where = f" for config key {key!r}" if key else ""
    if not isinstance(text, str):
        raise ValueError(f"expected a string to parse{where}, got {type(text).__name__}")
    if isinstance(like, bool):
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"expected a boolean{where}, got {text!r}")
    if isinstance(like, int):
        try:
            if not text.isascii():
                raise ValueError
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer{where}, got {text!r}") from None
    if isinstance(like, float):
        try:
            if not text.isascii():
                raise ValueError
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number{where}, got {text!r}") from None
    if isinstance(like, str):
        return text
    if isinstance(like, list):
        try:
            value = _literal(text)
        except ValueError:
            value = [s.strip() for s in text.split(",") if s.strip()]  # a,b,c
        if isinstance(value, (int, float, str)):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list{where}, got {text!r}")
        value = list(value)
        kind = _element_kind(like)
        if kind is not None:
            out = []
            for element in value:
                try:
                    out.append(_list_element(element, kind))
                except (ValueError, OverflowError):
                    raise ValueError(f"expected a list of {_KIND_NAMES[kind]}{where} (like {like!r}), got {text!r}: "
                                     f"element {element!r} is not one") from None
            value = out
        return value
    if isinstance(like, Config):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):  # JSONDecodeError, or an integer over Python's digit limit
            raise ValueError(f"config key {key!r} is a group; set its leaves (--config.{key}.<name>=...) or pass a JSON object") from None
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object{where}, got {text!r}")
        return _merge_group(like, value, key)
    # None or other: best-effort literal, else the string.
    try:
        return _literal(text)
    except ValueError:
        return text


def apply_overrides(config: Config, overrides: Iterable[str] | Mapping[str, Any]) -> List[str]:
    """Apply ``["a.b=1", ...]`` (strings, parsed) or ``{"a.b": 1}`` (values, kept). Returns the keys set."""
    if isinstance(overrides, Mapping):
        pairs = list(overrides.items())
        parsed = False
    else:
        pairs = []
        for item in overrides:
            if "=" not in item:
                raise ValueError(f"config override must look like key=value, got {item!r}")
            key, text = item.split("=", 1)
            pairs.append((key.strip(), text))
        parsed = True
    keys = []
    for key, value in pairs:
        node, last = config.lookup(key, create=True)
        node[last] = parse_value(value, node.get(last), key) if parsed else value
        keys.append(key)
    return keys


def resolve_scale(config: Config) -> Config:
    """Apply ``config.scales[config.scale]``: a nested mapping mirroring the config.

    Recipes keep their paper-scale values as defaults and list the CPU-sized changes under
    ``scales.smoke`` (e.g. ``{"data": {"batch_size": 8}}``); ``--config.scale=smoke`` selects
    them. A mapping replaces a leaf or an empty group and is merged into a non-empty group, unless it has
    the key ``REPLACE`` set true: then it replaces the group whole (e.g. a scale with its own list of
    ``stages``; ``defaults.replace_group``). Command-line overrides are applied again afterwards, so they
    win (``recipes.load_config``).
    """
    scale = config.scale
    if scale == "full":
        return config
    scales = config.scales
    if scale not in scales:
        raise ValueError(f"unknown scale {scale!r}; this recipe defines: full, {', '.join(scales.keys())}")
    _merge_into(config, scales[scale], "")
    return config


#: In a scale: a mapping with this key set true replaces the group it names instead of being merged into it.
REPLACE = "__replace__"


def _merge_into(node: Config, changes: Config, prefix: str) -> None:
    for key, value in changes.items():
        path = f"{prefix}{key}"
        if key not in node and not prefix.rstrip(".").endswith("_kwargs"):
            raise KeyError(_unknown(path, node, key))
        if isinstance(value, Config) and value.get(REPLACE):
            node[key] = Config({k: v for k, v in copy.deepcopy(value.to_dict()).items() if k != REPLACE})
        elif isinstance(value, Config) and isinstance(node.get(key), Config) and len(node[key]):
            _merge_into(node[key], value, path + ".")
        else:
            node[key] = value.copy() if isinstance(value, Config) else copy.deepcopy(value)
