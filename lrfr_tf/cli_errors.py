"""What every command line does with a user error: ``error: <message>`` naming the flag or file (one line; a
validation report keeps its list of bad files), a chosen exit code, no traceback unless ``--verbosity`` asks for
one; and the up-front writability check of output folders."""

from __future__ import annotations

import os
import re
import sys


def one_line(message) -> str:
    """An error message on one line: the first line, without TF's ``{{function_node ...}}`` prefix."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(message)).strip().strip('"')
    return text.splitlines()[0] if text else text


def report(error: BaseException, exit_code: int = 2, verbosity: int = 0) -> int:
    """Print ``error: <one line>`` to stderr and return ``exit_code``; re-raise with ``verbosity >= 1``."""
    if verbosity >= 1:
        raise error
    message = getattr(error, "message", None)  # a TF OpError: its first line, without the function_node prefix
    text = one_line(message) if message else str(error).strip('"')  # ours: as written (a list of bad files stays)
    print(f"error: {text}", file=sys.stderr)
    return exit_code


def check_writable_dir(path: str, what: str, create: bool = True) -> None:
    """Raise NotADirectoryError / PermissionError naming ``what`` unless ``path`` can receive files.

    ``create=True`` makes the folder and writes and removes a probe file in it; ``create=False`` leaves the
    disk untouched and checks the nearest existing ancestor instead (nothing is written before the inputs
    are known to be good).
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"{what}: {path} exists and is not a directory")
    if not create:
        ancestor = os.path.abspath(path)
        while not os.path.exists(ancestor):
            ancestor = os.path.dirname(ancestor)
        if not os.path.isdir(ancestor):
            raise NotADirectoryError(f"{what}: {ancestor} is not a directory")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise PermissionError(f"{what}: {ancestor} is not writable")
        return
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write_test_{os.getpid()}")
        with open(probe, "wb") as f:
            f.write(b"ok")
        os.remove(probe)
    except OSError as e:
        raise PermissionError(f"{what}: cannot write to {path} ({e.strerror or e})") from None
