r"""Serve a TF Serving model base path over TF Serving's REST API.

  python -m lrfr_tf.serve --model_base_path=DIR/NAME [--rest_api_port=8501]

DIR/NAME holds numeric version folders (DIR/NAME/1, DIR/NAME/2, ...), each a SavedModel. The newest one is
served at http://127.0.0.1:8501/v1/models/NAME and versions added later are picked up without a restart.
A client written against this server works unchanged against TF Serving. Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

from lrfr_tf import cli_logging

cli_logging.start_cli(__name__)  # before anything imports TensorFlow

import argparse  # noqa: E402
import asyncio  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

from lrfr_tf.cli_errors import report  # noqa: E402
from lrfr_tf.serve.model_server import ModelServer, ServeConfig, bind_socket  # noqa: E402

log = logging.getLogger("lrfr_tf.serve")


class _FlagError(ValueError):
    """A command-line mistake argparse found."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2 (through report), not argparse's usage block
        raise _FlagError(message)


def parse_flags(argv) -> tuple:
    """(ServeConfig, verbosity) from the command line; ValueError naming the flag on a mistake."""
    defaults = ServeConfig(model_base_path=".")
    parser = _Parser(prog="python -m lrfr_tf.serve", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--model_base_path", required=True,
                        help="Folder of numeric version folders (1, 2, ...), each a SavedModel.")
    parser.add_argument("--model_name", default=None, help="Name in the URLs (default: the base path's folder name).")
    parser.add_argument("--rest_api_port", "--port", dest="rest_api_port", type=int, default=defaults.rest_api_port,
                        help="HTTP port (0: any free port; the URL is printed). Default: %(default)s.")
    parser.add_argument("--host", default=defaults.host, help="Address to listen on. Default: %(default)s.")
    parser.add_argument("--file_system_poll_wait_seconds", type=float,
                        default=defaults.file_system_poll_wait_seconds,
                        help="Seconds between looks for new versions (0: look once at start-up). Default: %(default)s.")
    parser.add_argument("--num_versions", type=int, default=defaults.num_versions,
                        help="How many of the newest versions are served (each reachable at /versions/N). Default: %(default)s.")
    parser.add_argument("--max_batch_size", type=int, default=defaults.max_batch_size,
                        help="Most instances in one model call; a request with more gets 400. Default: %(default)s.")
    parser.add_argument("--batch_timeout_micros", type=int, default=defaults.batch_timeout_micros,
                        help="How long a batch waits for more requests before it runs. Default: %(default)s.")
    parser.add_argument("--max_enqueued_batches", type=int, default=defaults.max_enqueued_batches,
                        help="Batches that may wait per model/signature/shape; past that requests get 503. Default: %(default)s.")
    parser.add_argument("--max_request_bytes", type=int, default=defaults.max_request_bytes,
                        help="Largest request body accepted; a larger one gets 400. Default: %(default)s.")
    parser.add_argument("--verbosity", "-v", type=int, default=0, help="1: debug logs and tracebacks.")
    args = parser.parse_args(argv)
    verbosity = args.__dict__.pop("verbosity")
    return ServeConfig(**vars(args)), verbosity


def check_base_path(path: str) -> None:
    if not os.path.exists(path):
        raise FileNotFoundError(f"--model_base_path: {path} does not exist")
    if not os.path.isdir(path):
        raise NotADirectoryError(f"--model_base_path: {path} is not a directory")


def load_first_versions(config: ServeConfig):
    """The model's versions, loaded; ValueError when there are versions but none of them loads."""
    versions = config.model_versions()
    versions.start()
    if not versions.served_versions:
        failed = {v: s for v, s in versions.states.items() if s.error_code != "OK"}
        if failed:
            versions.stop()
            newest = max(failed)
            raise ValueError(f"--model_base_path: no version of {versions.base_path} could be loaded; version "
                             f"{newest}: {failed[newest].error_message}")
        when = "as soon as one appears" if config.file_system_poll_wait_seconds > 0 else (
            "never: --file_system_poll_wait_seconds=0 looks only once")
        log.warning("%s: no version under %s yet; serving %s", versions.name, versions.base_path, when)
    return versions


async def serve(config: ServeConfig, versions, sock) -> None:
    """Serve until SIGINT or SIGTERM."""
    server = ModelServer(config, versions)
    await server.start(sock)
    print(f"lrfr_tf.serve: serving model {versions.name} at {server.url}/v1/models/{versions.name}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("stopping")
    await server.stop()


def log_to_console(verbosity: int) -> None:
    """Log lines on stderr (a server has no output folder for a log file); TensorFlow's Python records only
    from errors up unless ``--verbosity`` >= 1."""
    logging.basicConfig(level=logging.DEBUG if verbosity >= 1 else logging.INFO, format=cli_logging.CONSOLE_FORMAT,
                        datefmt="%H:%M:%S", force=True)
    if verbosity < 1:
        logging.getLogger("tensorflow").setLevel(logging.ERROR)


def main(argv=None) -> int:
    verbosity = 0
    try:
        config, verbosity = parse_flags(sys.argv[1:] if argv is None else argv)
        check_base_path(config.model_base_path)
        sock = bind_socket(config.host, config.rest_api_port)
    except (ValueError, OSError) as e:
        return report(e, 2, verbosity)
    log_to_console(verbosity)
    try:
        versions = load_first_versions(config)
    except ValueError as e:
        sock.close()
        return report(e, 2, verbosity)
    except KeyboardInterrupt:  # Ctrl-C while the first version loads
        sock.close()
        return 130
    try:
        asyncio.run(serve(config, versions, sock))
    finally:
        versions.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
