"""``python -m lrfr_tf.serve``: start, request, stop; user mistakes are one line and exit code 2."""

import re
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
from serve_helpers import MODEL_NAME, images, predict, reference, request


def serve_command(*flags):
    return [sys.executable, "-m", "lrfr_tf.serve", *flags]


def test_cli_serves_until_sigterm(model_base_path):
    process = subprocess.Popen(
        serve_command(f"--model_base_path={model_base_path}", "--port=0", "--file_system_poll_wait_seconds=0"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()  # printed once the server listens
        match = re.fullmatch(rf"lrfr_tf\.serve: serving model {MODEL_NAME} at http://127\.0\.0\.1:(\d+)/v1/models/{MODEL_NAME}\n", line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        port = int(match.group(1))
        status, body, _ = request(port, "GET", f"/v1/models/{MODEL_NAME}")
        assert status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE"
        batch = images(2, seed=11)
        status, body, _ = predict(port, {"signature_name": "embed", "instances": batch.tolist()})
        assert status == 200
        expected = reference(f"{model_base_path}/2", "embed", images=batch)["embedding"]
        np.testing.assert_array_equal(np.float32(body["predictions"]), expected)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        stderr = process.stderr.read()
        assert "serving version 2" in stderr and "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_cli_user_error_from_the_command_line_is_one_line_exit_2():
    result = subprocess.run(serve_command("--model_base_path=/no/such/folder"), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "error: --model_base_path: /no/such/folder does not exist\n"


@pytest.mark.parametrize("flags, message", [
    ((), "error: the following arguments are required: --model_base_path"),
    (("--model_base_path={file}",), "error: --model_base_path: {file} is not a directory"),
    (("--model_base_path={base}", "--max_batch_size=0"), "error: --max_batch_size must be >= 1, got 0"),
    (("--model_base_path={base}", "--port=70000"), "error: --rest_api_port must be a port number from 0 to 65535, got 70000"),
    (("--model_base_path={base}", "--batch_timeout_micros=soon"), "error: argument --batch_timeout_micros: invalid int value: 'soon'"),
    (("--model_base_path={base}", "--file_system_poll_wait_seconds=-1"), "error: --file_system_poll_wait_seconds must be >= 0, got -1.0"),
    (("--model_base_path={base}", "--model_name=a/b"), "error: --model_name must be a non-empty name without '/' or ':', got 'a/b'"),
    (("--model_base_path={base}", "--bogus=1"), "error: unrecognized arguments: --bogus=1"),
    (("--model_base_path={base}", "--rest_api_port={taken}"), "error: --rest_api_port: cannot listen on 127.0.0.1:{taken} ("),
    (("--model_base_path={broken}",), "error: --model_base_path: no version of {broken} could be loaded; version 1: "),
])
def test_cli_user_errors_are_one_line_exit_2(tmp_path, capsys, monkeypatch, flags, message):
    from lrfr_tf.serve import __main__ as cli

    monkeypatch.setattr(cli, "log_to_console", lambda verbosity: None)  # leave this process's logging alone

    file = tmp_path / "file.txt"
    file.write_text("x")
    base = tmp_path / "empty"
    base.mkdir()
    broken = tmp_path / MODEL_NAME
    (broken / "1").mkdir(parents=True)
    (broken / "1" / "saved_model.pb").write_bytes(b"garbage")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        values = {"file": file, "base": base, "broken": broken, "taken": taken.getsockname()[1]}
        code = cli.main([f.format(**values) for f in flags])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = captured.err.strip().splitlines()
    assert lines[-1].startswith(message.format(**values)), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert len(lines) == 1 or "broken" in message  # a failed load also logs its warning line first
    assert (broken / "1" / "saved_model.pb").read_bytes() == b"garbage"  # nothing touched
