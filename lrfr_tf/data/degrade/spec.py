"""The spec-string parser (``parse``), config building (``build``) and formatting back to a spec."""

from __future__ import annotations

import difflib
import inspect
import re
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from lrfr_tf.data.degrade.common import OPS, PRESETS, _KEYWORDS
from lrfr_tf.data.degrade.ops import Op
from lrfr_tf.data.degrade.composition import Degradation


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<size>\d+x\d+)(?![\w.])
    | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)(?![\w.])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<string>'[^']*'|"[^"]*")
    | (?P<punct>[()\[\],=|])
    )""",
    re.VERBOSE,
)


class _Parser:
    """Recursive-descent parser of the spec grammar (see the module docstring)."""

    def __init__(self, spec: str):
        self.spec = spec
        self.tokens: List[Tuple[str, Any, int]] = []
        pos = 0
        while pos < len(spec):
            if spec[pos:].strip() == "":
                break
            m = _TOKEN.match(spec, pos)
            if not m or m.lastgroup is None:
                start = len(spec) - len(spec[pos:].lstrip())
                self.fail(f"unexpected character {spec[start]!r}", start)
            kind, text = m.lastgroup, m.group(m.lastgroup)
            self.tokens.append((kind, text, m.start(kind)))
            pos = m.end()
        self.tokens.append(("end", "", len(spec)))
        self.i = 0

    def fail(self, message: str, pos: int):
        raise ValueError(f"degradation spec: {message} at column {pos + 1}\n  {self.spec}\n  {' ' * pos}^")

    def peek(self):
        return self.tokens[self.i]

    def take(self, kind: str, text: Optional[str] = None, what: str = ""):
        tok = self.tokens[self.i]
        if tok[0] != kind or (text is not None and tok[1] != text):
            found = "end of spec" if tok[0] == "end" else repr(tok[1])
            self.fail(f"expected {what or repr(text) or kind}, found {found}", tok[2])
        self.i += 1
        return tok

    def at(self, text: str) -> bool:
        tok = self.peek()
        return tok[0] == "punct" and tok[1] == text

    def parse(self) -> List[Tuple[str, list, dict, int]]:
        ops = [self.op()]
        while self.at("|"):
            self.i += 1
            ops.append(self.op())
        self.take("end", what="'|' or end of spec")
        return ops

    def op(self):
        _, name, pos = self.take("name", what="an op name")
        args, kwargs = [], {}
        if self.at("("):
            self.i += 1
            while not self.at(")"):
                tok = self.peek()
                if tok[0] == "name" and self.tokens[self.i + 1][1] == "=":
                    self.i += 2
                    if tok[1] in kwargs:
                        self.fail(f"{name}: argument {tok[1]!r} given twice", tok[2])
                    kwargs[tok[1]] = self.value()
                else:
                    if kwargs:
                        self.fail(f"{name}: positional argument after keyword arguments", tok[2])
                    args.append(self.value())
                if not self.at(")"):
                    self.take("punct", ",", "',' or ')'")
            self.i += 1
        return name, args, kwargs, pos

    def value(self):
        kind, text, pos = self.peek()
        self.i += 1
        if kind == "size":
            h, w = text.split("x")
            return (int(h), int(w))
        if kind == "number":
            return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
        if kind == "string":
            return text[1:-1]
        if kind == "name":
            return _KEYWORDS.get(text.lower(), text)
        if kind == "punct" and text == "[":
            items = []
            while not self.at("]"):
                items.append(self.value())
                if not self.at("]"):
                    self.take("punct", ",", "',' or ']'")
            self.i += 1
            return items
        self.fail("expected a value" if kind != "end" else "unexpected end of spec", pos)


def _create(name: str, args: Sequence[Any], kwargs: Mapping[str, Any], where: str) -> Op:
    """OPS[name](*args, **kwargs) with errors that name the op and the argument."""
    if name not in OPS:
        close = difflib.get_close_matches(name, OPS.names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{where}: unknown op {name!r}{hint}; registered: {', '.join(OPS.names())}")
    cls = OPS.get(name)
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in kwargs:
        if key not in params:
            close = difflib.get_close_matches(key, params, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{where}: {name}: unexpected argument {key!r}{hint} (arguments: {', '.join(params)})")
    try:
        inspect.signature(cls.__init__).bind(None, *args, **kwargs)
    except TypeError as e:
        raise ValueError(f"{where}: {name}: {e} (arguments: {', '.join(params)})") from None
    try:
        return cls(*args, **kwargs)
    except (ValueError, TypeError) as e:
        message = str(e)
        prefix = f"{name}: "
        raise ValueError(f"{where}: {message if message.startswith(prefix) else prefix + message}") from None


def parse(spec: str) -> Degradation:
    """A ``Degradation`` from a spec string (or a ``PRESETS`` name); errors name the op and argument."""
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a string, got {type(spec).__name__}")
    name = spec.strip()
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name not in PRESETS and name not in OPS:
        close = difflib.get_close_matches(name, list(PRESETS) + OPS.names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"degradation spec {spec!r}: unknown preset or op {name!r}{hint}; presets: "
                         f"{', '.join(PRESETS)}; ops: {', '.join(OPS.names())}")
    spec = PRESETS.get(name, spec)
    parser = _Parser(spec)
    ops = []
    for name, args, kwargs, pos in parser.parse():
        try:
            ops.append(_create(name, args, kwargs, f"degradation spec {spec!r}, op at column {pos + 1}"))
        except ValueError as e:
            raise ValueError(f"{e}\n  {spec}\n  {' ' * pos}^") from None
    return Degradation(ops)


def build(config) -> Degradation:
    """A ``Degradation`` from a spec string, a ``Degradation``, or a list of ops / spec strings /
    ``{"op": name, **args}`` dicts (the format of ``Degradation.get_config``)."""
    if isinstance(config, Degradation):
        return config
    if isinstance(config, str):
        return parse(config)
    if isinstance(config, Op):
        return Degradation([config])
    if not isinstance(config, (list, tuple)):
        raise TypeError(f"degradation config must be a spec string or a list, got {type(config).__name__}")
    ops: List[Op] = []
    for i, entry in enumerate(config):
        if isinstance(entry, Op):
            ops.append(entry)
        elif isinstance(entry, str):
            ops.extend(parse(entry).ops)
        elif isinstance(entry, Mapping):
            if "op" not in entry:
                raise ValueError(f"degradation config entry {i} {dict(entry)!r} has no 'op' key")
            kwargs = {k: v for k, v in entry.items() if k != "op"}
            ops.append(_create(entry["op"], [], kwargs, f"degradation config entry {i}"))
        else:
            raise TypeError(f"degradation config entry {i} must be a dict, a spec string or an Op, got {entry!r}")
    return Degradation(ops)


