"""The model server: settings, the HTTP listener, and a thread to run it beside other code (tests, notebooks)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
from typing import Optional

from aiohttp import web

from lrfr_tf.serve.batching import Batcher
from lrfr_tf.serve.rest_api import RestApi
from lrfr_tf.serve.model_versions import ModelVersions


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """Settings, named as TF Serving's flags and batching parameters where those exist."""

    model_base_path: str
    model_name: Optional[str] = None  # default: the base path's folder name
    host: str = "127.0.0.1"
    rest_api_port: int = 8501  # 0: any free port
    file_system_poll_wait_seconds: float = 1.0  # 0: look once at start-up
    num_versions: int = 1  # how many of the newest versions are served (TF Serving's latest{num_versions})
    max_batch_size: int = 32
    batch_timeout_micros: int = 1000
    max_enqueued_batches: int = 10
    max_request_bytes: int = 64 * 2**20

    def __post_init__(self):
        checks = [
            ("rest_api_port", 0 <= self.rest_api_port <= 65535, "a port number from 0 to 65535"),
            ("file_system_poll_wait_seconds", self.file_system_poll_wait_seconds >= 0, ">= 0"),
            ("num_versions", self.num_versions >= 1, ">= 1"),
            ("max_batch_size", self.max_batch_size >= 1, ">= 1"),
            ("batch_timeout_micros", self.batch_timeout_micros >= 0, ">= 0"),
            ("max_enqueued_batches", self.max_enqueued_batches >= 1, ">= 1"),
            ("max_request_bytes", self.max_request_bytes >= 1, ">= 1"),
        ]
        for flag, ok, expected in checks:
            if not ok:
                raise ValueError(f"--{flag} must be {expected}, got {getattr(self, flag)}")
        if self.model_name is not None and (not self.model_name or any(c in self.model_name for c in "/:")):
            raise ValueError(f"--model_name must be a non-empty name without '/' or ':', got {self.model_name!r}")

    def model_versions(self) -> ModelVersions:
        return ModelVersions(self.model_base_path, self.model_name, self.file_system_poll_wait_seconds,
                             self.num_versions)


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening), so a taken port is known before models load."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise ValueError(f"--host: cannot use {host!r} ({e.strerror or e})") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise ValueError(f"--rest_api_port: cannot listen on {host}:{port} ({e.strerror or e})") from None
    return sock


class ModelServer:
    """The REST API over ``versions`` (started and stopped by the caller) with its own batcher."""

    def __init__(self, config: ServeConfig, versions: ModelVersions):
        self.config = config
        self.versions = versions
        self.batcher = Batcher(config.max_batch_size, config.batch_timeout_micros, config.max_enqueued_batches)
        self.port: Optional[int] = None
        self._runner: Optional[web.AppRunner] = None

    @property
    def url(self) -> str:
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.port}"

    async def start(self, sock: Optional[socket.socket] = None) -> None:
        """Listen on ``sock`` (default: a new socket on the configured host and port)."""
        sock = sock or bind_socket(self.config.host, self.config.rest_api_port)
        await self.batcher.start()
        api = RestApi(self.versions, self.batcher, self.config.max_request_bytes)
        self._runner = web.AppRunner(api.application(), access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, shutdown_timeout=5.0).start()
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.batcher.stop()


class ServerThread:
    """A ModelServer on an event loop of its own thread: ``start()`` returns once it listens."""

    def __init__(self, server: ModelServer):
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lrfr_tf.serve.http", daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, timeout: float = 30.0) -> "ServerThread":
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout)
        except BaseException:
            self._close_loop(timeout)
            raise
        return self

    def stop(self, timeout: float = 30.0) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout)
        finally:
            self._close_loop(timeout)

    def _close_loop(self, timeout: float) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._loop.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
