"""What a command line shows and keeps: TensorFlow's start-up messages hidden, log lines in a file and on the
console above one-line progress bars.

Usage in every ``__main__`` module (train, evaluate, pack, export, serve)::

    from lrfr_tf import cli_logging
    cli_logging.start_cli(__name__)   # first statement, before anything imports TensorFlow

    def main(argv):
        ...  # check the flags and the output folder
        with cli_logging.log_to_file(os.path.join(out_dir, "evaluate.log")):
            ...  # the work

``--verbosity=1`` (absl's ``-v``) shows TensorFlow's messages as TF prints them (and, through
``lrfr_tf.cli_errors``, tracebacks). By default ``TF_CPP_MIN_LOG_LEVEL`` is set to 2 (a value the user set is
kept) and what TF's native code prints while ``import tensorflow`` runs and probes the devices (absl's
"before absl::InitializeLog()" warning, the oneDNN notice, CUDA driver probing on a machine without a GPU, CPU
feature notes) is held back: records below the level go to the log file, the rest to stderr; on the console,
TensorFlow's Python log records below the level are left to the file too. Library code makes its bars with
``progress_bar``.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
import time
from typing import List, Optional, Sequence, Tuple

#: TF_CPP_MIN_LOG_LEVEL set when the user has not set one: INFO and WARNING hidden, errors shown.
DEFAULT_TF_LOG_LEVEL = 2

#: Seconds between redraws of a progress bar when stderr is not a terminal (CI, a file).
NON_TTY_INTERVAL_S = 60.0

FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONSOLE_FORMAT = "%(asctime)s %(levelname)s %(message)s"

_ABSL_PRE_INIT = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_RECORD = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] ")  # seconds since 1970 before init
# Errors TF logs while probing CUDA on a machine without a usable GPU, or registering its CUDA plugins twice.
_CUDA_PROBE_ERRORS = re.compile(r"cuInit|Unable to register cu(DNN|FFT|BLAS) factory")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
_PY_LEVEL = {0: logging.NOTSET, 1: logging.WARNING, 2: logging.ERROR, 3: logging.CRITICAL}
_FILE_ONLY = {"console": False}

_startup_hidden: List[str] = []  # TF start-up lines held back from the console, for the log file
_early: Optional["_EarlyRecords"] = None
log = logging.getLogger("lrfr_tf.cli")


def argv_verbosity(argv: Sequence[str]) -> int:
    """The value of absl's ``--verbosity`` / ``-v`` in ``argv`` (the last one; 0 without one), read before
    flags are parsed."""
    value, args = 0, iter(argv)
    for arg in args:
        if arg == "--":
            break
        match = re.fullmatch(r"--?(?:verbosity|v)(?:=(.*))?", arg)
        if match:
            raw = match.group(1) if match.group(1) is not None else next(args, "")
            with contextlib.suppress(ValueError):
                value = int(raw)
    return value


def verbosity() -> int:
    """absl's ``--verbosity`` once flags are parsed, else as given on the command line."""
    from absl import flags

    if flags.FLAGS.is_parsed() and "verbosity" in flags.FLAGS:
        return int(flags.FLAGS.verbosity)
    return argv_verbosity(sys.argv[1:])


def tf_log_level() -> int:
    """TF_CPP_MIN_LOG_LEVEL as TF reads it (0 when unset or not a number, at most 3)."""
    try:
        return min(max(int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")), 0), 3)
    except ValueError:
        return 0


def start_cli(module_name: str) -> None:
    """Quiet TensorFlow for a command line (see the module docstring) and keep early log records for
    ``log_to_file``. Call before anything imports TensorFlow. Does nothing when ``module_name`` is not
    ``"__main__"`` (the module was imported, e.g. by a test) or with ``--verbosity`` >= 1."""
    global _early
    if module_name != "__main__" or argv_verbosity(sys.argv[1:]) >= 1:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", str(DEFAULT_TF_LOG_LEVEL))
    if _early is None:
        _early = _EarlyRecords()
        logging.getLogger().addHandler(_early)
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


def split_startup_messages(text: str, level: int) -> Tuple[str, str]:
    """(shown, hidden) lines of what TF's native code printed at start-up, for TF_CPP_MIN_LOG_LEVEL ``level``:
    absl records below the level are hidden (with their continuation lines), so are absl's pre-init warning
    (level >= 1) and CUDA probing errors (level >= 2); anything else is shown."""
    shown, hidden, hide = [], [], False
    for line in text.splitlines(keepends=True):
        record = _RECORD.match(line)
        if record:
            severity = _SEVERITY[record.group(1)]
            hide = severity < level or (level >= 2 and severity == 2 and bool(_CUDA_PROBE_ERRORS.search(line)))
        elif line.rstrip("\n") == _ABSL_PRE_INIT:
            hide = level >= 1
        # other lines continue the record above them (e.g. cpu_feature_guard's second line)
        (hidden if hide else shown).append(line)
    return "".join(shown), "".join(hidden)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Runs ``import tensorflow`` (and a device probe) with the process's stderr going to a temporary file."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec_module(module):
            with _native_stderr_held():
                exec_module(module)
                with contextlib.suppress(Exception):  # CUDA is probed now, while stderr is held
                    module.config.list_physical_devices()

        spec.loader.exec_module = quiet_exec_module
        return spec


@contextlib.contextmanager
def _native_stderr_held():
    """Point file descriptor 2 at a temporary file; afterwards pass on what ``split_startup_messages`` shows
    (everything, if the block raised) and keep the rest for the log file."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable stderr: nothing to hold
        yield
        return
    failed = True
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
            failed = False
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode("utf-8", "replace")
            shown, hidden = (text, "") if failed else split_startup_messages(text, tf_log_level())
            if hidden:
                _startup_hidden.append(hidden)
            if shown:
                os.write(2, shown.encode("utf-8", "replace"))


class _EarlyRecords(logging.Handler):
    """Keeps the records logged before ``log_to_file`` (for the file); warnings reach stderr meanwhile when
    no other handler is installed."""

    def __init__(self, capacity: int = 10000):
        super().__init__()
        self.records = collections.deque(maxlen=capacity)
        self.setFormatter(logging.Formatter(CONSOLE_FORMAT, "%H:%M:%S"))

    def emit(self, record):
        self.records.append(record)
        if record.levelno >= logging.WARNING and logging.getLogger().handlers == [self]:
            sys.stderr.write(self.format(record) + "\n")


def _from_tensorflow(record: logging.LogRecord) -> bool:
    """Logged by TensorFlow's Python code (its 'tensorflow' logger, or absl logging called from its files)."""
    if record.name.split(".")[0] == "tensorflow":
        return True
    roots = getattr(sys.modules.get("tensorflow"), "__path__", None) or []
    return any(record.pathname.startswith(os.path.join(root, "")) for root in roots)


class _ConsoleHandler(logging.Handler):
    """Log lines on stderr above the open progress bars (``tqdm.write``); TensorFlow's own Python records
    below TF_CPP_MIN_LOG_LEVEL and file-only records are left to the log file."""

    def __init__(self, tf_level: int):
        super().__init__()
        self.tf_level = _PY_LEVEL[tf_level]
        self.setFormatter(logging.Formatter(CONSOLE_FORMAT, "%H:%M:%S"))

    def filter(self, record):
        if not getattr(record, "console", True):
            return False
        if record.levelno < self.tf_level and _from_tensorflow(record):
            return False
        return super().filter(record)

    def emit(self, record):
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must not raise
            self.handleError(record)


class _FileHandler(logging.FileHandler):
    """A log file that, once it cannot be written (disk full, size limit), says so in one line and stops."""

    def handleError(self, record):
        if self.stream is None:  # already given up
            return
        error = sys.exc_info()[1]
        with contextlib.suppress(Exception):
            self.stream.close()
        self.stream = None
        self.emit = lambda record: None
        sys.stderr.write(f"warning: {self.baseFilename}: cannot write the log file any more "
                         f"({getattr(error, 'strerror', None) or error}); the console keeps logging\n")


class LogFile:
    """Log records to a file and to the console while active (``log_to_file``); ``close()`` or the end of a
    ``with`` block restores the previous handlers. A failure is recorded in the file with its traceback."""

    def __init__(self, path: str):
        self.path = os.fspath(path)
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self.file = _FileHandler(self.path, mode="a", encoding="utf-8")
        except OSError as e:
            raise PermissionError(f"{self.path}: cannot write the log file ({e.strerror or e})") from None
        self.file.setFormatter(logging.Formatter(FILE_FORMAT))
        quiet = verbosity() < 1
        self.console = _ConsoleHandler(tf_log_level() if quiet else 0)
        from absl import logging as absl_logging

        root = logging.getLogger()
        self.removed = [(root, h) for h in root.handlers if h in (_early, absl_logging.get_absl_handler())]
        tf_logger = logging.getLogger("tensorflow")  # TF adds a stderr handler of its own if it came first
        self.removed += [(tf_logger, h) for h in tf_logger.handlers if isinstance(h, logging.StreamHandler)]
        for logger, handler in self.removed:
            logger.removeHandler(handler)
        root.addHandler(self.file)
        root.addHandler(self.console)
        if root.level > logging.INFO:  # absl sets it from --verbosity; unparsed flags leave WARNING
            self.root_level = root.level
            root.setLevel(logging.INFO)
        else:
            self.root_level = None
        logging.captureWarnings(True)
        self.start = time.time()
        from lrfr_tf.provenance import command_line

        log.info("command: %s", command_line(), extra=_FILE_ONLY)
        for text in _startup_hidden:
            log.info("TensorFlow start-up messages (hidden on the console; --verbosity=1 shows them):\n%s",
                     text.rstrip("\n"), extra=_FILE_ONLY)
        if _early is not None:
            for record in _early.records:
                self.file.handle(record)
            _early.records.clear()

    def close(self, error: Optional[BaseException] = None) -> None:
        if self.file is None:
            return
        seconds = time.time() - self.start
        if isinstance(error, KeyboardInterrupt):
            log.error("interrupted after %.1f s", seconds, extra=_FILE_ONLY)
        elif error is not None and not (isinstance(error, SystemExit) and not error.code):
            log.error("failed after %.1f s: %s: %s", seconds, type(error).__name__, error,
                      exc_info=(type(error), error, error.__traceback__), extra=_FILE_ONLY)
        else:
            log.info("finished in %.1f s", seconds, extra=_FILE_ONLY)
        root = logging.getLogger()
        for handler in (self.file, self.console):
            root.removeHandler(handler)
        self.file.close()
        self.file = None
        for logger, handler in self.removed:
            logger.addHandler(handler)
        if self.root_level is not None:
            root.setLevel(self.root_level)
        logging.captureWarnings(False)

    def __enter__(self) -> "LogFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close(exc)
        return False


def log_to_file(path: str) -> LogFile:
    """Send log records (Python's and absl's) to ``path`` (appended to) and to the console above the progress
    bars, from now until the returned ``LogFile`` is closed (use it in a ``with``). Raises PermissionError
    naming ``path`` if it cannot be written."""
    return LogFile(path)


def progress_bar(iterable=None, **kwargs):
    """A tqdm bar kept on one line: as wide as the terminal; when its stream (stderr) is not a terminal (CI, a
    file), drawn at most every ``NON_TTY_INTERVAL_S`` and at the end. Open one bar at a time (no nested bars)."""
    from tqdm import tqdm

    kwargs.setdefault("dynamic_ncols", True)
    try:
        tty = (kwargs.get("file") or sys.stderr).isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        return tqdm(iterable, **kwargs)
    if "TQDM_MININTERVAL" not in os.environ:
        kwargs.setdefault("mininterval", NON_TTY_INTERVAL_S)
    return _throttled_tqdm()(iterable, **kwargs)


@functools.lru_cache(maxsize=None)
def _throttled_tqdm():
    """tqdm whose every redraw, forced ones too (``set_postfix``, ``tqdm.write``), waits ``mininterval``."""
    from tqdm import tqdm

    class ThrottledTqdm(tqdm):
        def refresh(self, *args, **kwargs):
            if self.disable:  # a disabled bar has no clock and draws nothing
                return False
            now = self._time()
            if now - getattr(self, "last_print_t", now) < self.mininterval:  # (unset while the bar is made)
                return False
            self.last_print_t = now
            return super().refresh(*args, **kwargs)

    return ThrottledTqdm
