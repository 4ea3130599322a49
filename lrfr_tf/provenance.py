"""How outputs name the files and command behind them without machine paths: paths relative to the working
directory (or as the user gave them), the command as typed. Content hashes identify the files themselves."""

from __future__ import annotations

import os
import shlex
import sys
from typing import Optional, Sequence


def recorded_path(path) -> Optional[str]:
    """``path`` as an output records it: relative to the working directory when it lies under it, else as
    given (never made absolute or resolved here)."""
    if path is None:
        return None
    path = os.fspath(path)
    cwd = os.getcwd()
    absolute = os.path.abspath(path)
    if absolute == cwd or absolute.startswith(cwd.rstrip(os.sep) + os.sep):
        return os.path.relpath(absolute, cwd)
    return path


def command_line(argv: Optional[Sequence[str]] = None) -> str:
    """The command as typed: ``python -m <module> <args>`` for a ``-m`` run (not the module's file path)."""
    argv = list(sys.argv if argv is None else argv)
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        program = "python -m " + spec.name.removesuffix(".__main__")
    else:
        program = "python " + recorded_path(argv[0]) if argv and argv[0] else "python"
    return " ".join([program, *(shlex.quote(a) for a in argv[1:])])
