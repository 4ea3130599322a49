"""lrfr_tf.cli_logging and lrfr_tf.provenance in-process: verbosity from argv, the start-up message filter, the
log file and console handlers, one-line progress bars, recorded paths and the command line."""

import io
import logging
import os
import sys
import types

import pytest

from lrfr_tf import cli_logging
from lrfr_tf.provenance import command_line, recorded_path

# What TF 2.21 prints at import and device probing on a machine without a GPU (oneDNN forced on), plus two lines
# that must survive the filter: a line that is not an absl record and an error that is not CUDA probing. (A line
# right after an absl record is taken as that record's continuation, like cpu_feature_guard's second line.)
STARTUP = """/usr/lib/python3/site.py:1: UserWarning: something a user should see
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796212923.428615    9368 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.
I0000 00:00:1796212923.429139    9368 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
W0000 00:00:1796212923.514507    9368 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions.
To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1796212929.044240    9368 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
E0000 00:00:1796212929.044241    9368 env.cc:10] could not open /dev/shm: Permission denied
"""


@pytest.mark.parametrize("argv, expected", [
    ([], 0), (["--verbosity=1"], 1), (["--verbosity", "2"], 2), (["-v", "1"], 1), (["-v=1"], 1), (["-verbosity=3"], 3),
    (["--model=x", "-v", "1", "--out=y"], 1), (["-v", "tests/x.py"], 0), (["-vv"], 0), (["--", "--verbosity=1"], 0),
    (["--verbosity=1", "--verbosity=0"], 0),
])
def test_argv_verbosity(argv, expected):
    assert cli_logging.argv_verbosity(argv) == expected


def test_default_level_hides_every_startup_line_but_real_errors_and_other_text():
    shown, hidden = cli_logging.split_startup_messages(STARTUP, 2)
    assert shown.splitlines() == [STARTUP.splitlines()[0], STARTUP.splitlines()[7]]  # UserWarning, /dev/shm error
    for marker in ("absl::InitializeLog", "oneDNN custom operations", "TF_ENABLE_ONEDNN_OPTS", "cuda", "AVX2 FMA"):
        assert marker not in shown and marker in hidden
    assert shown + hidden == "".join(sorted(STARTUP.splitlines(True), key=lambda line: line not in shown))


@pytest.mark.parametrize("level, shown_count", [(0, 8), (1, 5), (3, 1)])
def test_a_user_level_is_applied_by_severity(level, shown_count):
    shown, _ = cli_logging.split_startup_messages(STARTUP, level)
    assert len(shown.splitlines()) == shown_count
    assert ("absl::InitializeLog" in shown) == (level == 0)
    assert ("cuInit" in shown) == (level < 2)
    assert "UserWarning" in shown  # not an absl record: always passed on


def test_start_cli_does_nothing_when_imported(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    before = list(sys.meta_path), list(logging.getLogger().handlers)
    cli_logging.start_cli("lrfr_tf.evaluate")
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    assert (list(sys.meta_path), list(logging.getLogger().handlers)) == before


def _tf_record(level, pathname):
    return logging.LogRecord("absl", level, pathname, 1, "from tensorflow at %s", (logging.getLevelName(level),), None)


def test_log_file_gets_every_record_the_console_hides_tensorflow_info(tmp_path, capsys, monkeypatch):
    import tensorflow as tf

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    tf_file = os.path.join(tf.__path__[0], "python", "checkpoint", "functional_saver.py")
    path = tmp_path / "sub" / "run.log"
    with cli_logging.log_to_file(str(path)):
        logging.getLogger("lrfr_tf.test").info("our info line")
        logging.getLogger("tensorflow").warning("tf warning line")
        root.handle(_tf_record(logging.INFO, tf_file))
        root.handle(_tf_record(logging.ERROR, tf_file))
    err = capsys.readouterr().err
    text = path.read_text()
    for line in ("our info line", "tf warning line", "from tensorflow at INFO", "from tensorflow at ERROR"):
        assert line in text
    assert "our info line" in err and "from tensorflow at ERROR" in err
    assert "tf warning line" not in err and "from tensorflow at INFO" not in err
    assert "command: python -m pytest" in text and "finished in" in text
    assert "command:" not in err  # file-only records
    assert list(root.handlers) == handlers and root.level == level  # restored


def test_log_file_records_a_failure_with_its_traceback(tmp_path, capsys):
    path = tmp_path / "run.log"
    with pytest.raises(ValueError, match="bad input"):
        with cli_logging.log_to_file(str(path)):
            logging.getLogger("lrfr_tf.test").info("before the failure")
            raise ValueError("bad input")
    text = path.read_text()
    assert "before the failure" in text and "failed after" in text and "ValueError: bad input" in text
    assert "Traceback (most recent call last)" in text
    assert "Traceback" not in capsys.readouterr().err  # the console is the CLI's business (cli_errors.report)


class _FullDisk(io.StringIO):
    def write(self, text):
        raise OSError(28, "No space left on device")


def test_a_log_file_that_fills_the_disk_is_one_warning_not_a_traceback_per_record(tmp_path, capsys):
    with cli_logging.log_to_file(str(tmp_path / "run.log")) as log_file:
        log_file.file.stream = _FullDisk()
        for i in range(3):
            logging.getLogger("lrfr_tf.test").warning("line %d", i)
    err = capsys.readouterr().err
    assert err.count("cannot write the log file any more (No space left on device)") == 1
    assert "Traceback" not in err and "Logging error" not in err
    assert all(f"line {i}" in err for i in range(3))  # the console keeps logging


def test_unwritable_log_file_names_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match=r"file/run.log: cannot write the log file"):
        cli_logging.log_to_file(str(blocker / "run.log"))


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_off_a_terminal_draws_once_at_the_end():
    out = io.StringIO()
    bar = cli_logging.progress_bar(total=5000, desc="loop", file=out)
    for i in range(5000):
        bar.update(1)
        bar.set_postfix({"loss": f"{i:.4g}"})  # a forced redraw per step, as the training loop does
    bar.close()
    frames = out.getvalue().count("%|")
    assert frames == 1 and "5000/5000" in out.getvalue() and out.getvalue().count("\n") == 1


def test_progress_bar_on_a_terminal_redraws_in_place():
    out = _Terminal()
    bar = cli_logging.progress_bar(total=3, desc="loop", file=out, mininterval=0)
    for _ in range(3):
        bar.update(1)
    bar.close()
    text = out.getvalue()
    assert text.count("%|") >= 3 and text.count("\n") == 1 and "\x1b[A" not in text  # one line, redrawn with \r


def test_recorded_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    assert recorded_path(str(tmp_path / "data" / "pairs.txt")) == os.path.join("data", "pairs.txt")
    assert recorded_path("data/../data/x.csv") == os.path.join("data", "x.csv")
    assert recorded_path("../elsewhere/model.tflite") == "../elsewhere/model.tflite"  # outside: as given
    assert recorded_path("/opt/models/m.tflite") == "/opt/models/m.tflite"
    assert recorded_path(tmp_path) == "." and recorded_path(None) is None


def test_command_line_names_the_module_not_its_file(monkeypatch):
    main = types.ModuleType("__main__")
    main.__spec__ = types.SimpleNamespace(name="lrfr_tf.train.__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    argv = ["/somewhere/lrfr_tf/train/__main__.py", "--recipe=bt", "--config.name=a b"]
    assert command_line(argv) == "python -m lrfr_tf.train --recipe=bt '--config.name=a b'"


def test_a_disabled_bar_takes_postfix_updates_silently(capsys):
    """``progress_bar(disable=True)`` (progress off) accepts the calls an enabled bar gets, and draws nothing."""
    from lrfr_tf.cli_logging import progress_bar

    bar = progress_bar(total=3, disable=True)
    bar.set_postfix(faces_per_s=1.0)
    bar.update(3)
    bar.close()
    assert capsys.readouterr().err == ""
