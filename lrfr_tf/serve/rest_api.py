"""TF Serving's REST API on aiohttp (model_servers/http_rest_api_handler.cc and http_rest_api_util.cc).

  POST /v1/models/NAME[/versions/N]:predict    predictions (row or columnar format)
  GET  /v1/models/NAME[/versions/N]            version status
  GET  /v1/models/NAME[/versions/N]/metadata   signature defs

Every failure answers ``{"error": "<message>"}`` with TF Serving's HTTP status for its code (400 for bad
input, 404 for an unknown model or version, 503 when the batch queue is full).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Optional
from urllib.parse import unquote

from aiohttp import web

from lrfr_tf.serve.batching import Batcher
from lrfr_tf.serve.serving_errors import ServingError, error_body, invalid_argument
from lrfr_tf.serve.predict_request import prepare_predict, resolve_servable
from lrfr_tf.serve.tensors_json import predict_response
from lrfr_tf.serve.model_versions import ModelVersions

log = logging.getLogger("lrfr_tf.serve")

_VERSION_OR_LABEL = r"(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
PREDICT_PATH = re.compile(r"/v1/models/([^/:]+)" + _VERSION_OR_LABEL + r":(classify|regress|predict)", re.I | re.A)
STATUS_PATH = re.compile(r"/v1/models(?:/([^/:]+))?" + _VERSION_OR_LABEL + r"(?:/(metadata))?", re.I | re.A)
API_PATH = re.compile(r"/v1/.*", re.I | re.S | re.A)
_INT64_MAX = 2**63 - 1


class RestApi:
    """Request handling for one model's versions through one batcher."""

    def __init__(self, versions: ModelVersions, batcher: Batcher, max_request_bytes: int):
        self.versions = versions
        self.batcher = batcher
        self.max_request_bytes = max_request_bytes

    def application(self) -> web.Application:
        # aiohttp enforces the body limit too; ours answers first when the length is declared.
        app = web.Application(client_max_size=self.max_request_bytes)
        app.router.add_route("*", "/{path:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        path = request.rel_url.raw_path
        try:
            if not API_PATH.fullmatch(path):
                raise ServingError("NOT_FOUND", f"Not found: {path} (this server answers /v1/models/...)")
            if request.method == "OPTIONS":  # CORS preflight, answered as TF Serving does
                if not re.match(r"https?://", request.headers.get("Origin", "")):
                    raise ServingError("FAILED_PRECONDITION", "Origin header is missing in CORS preflight")
                return web.Response(status=200, content_type="application/json")
            text = await self._dispatch(request, path)
            return web.Response(text=text, content_type="application/json")
        except ServingError as e:
            log.debug("%s %s: %s", request.method, path, e.to_string())
            return _error_response(e)
        except Exception as e:  # a bug of ours, not the client's: 500, and the server goes on
            log.exception("%s %s failed", request.method, path)
            return _error_response(ServingError("INTERNAL", f"{type(e).__name__}: {e}"))

    async def _dispatch(self, request: web.Request, path: str) -> str:
        method = request.method
        match = None
        if method == "POST":
            match = PREDICT_PATH.fullmatch(path)
        elif method == "GET":
            match = STATUS_PATH.fullmatch(path)
        if match is None:
            raise invalid_argument(f"Malformed request: {method} {path}")
        name = unquote(match.group(1) or "")
        version = _version_number(match.group(2))
        label = unquote(match.group(3)) if match.group(3) else None
        loop = asyncio.get_running_loop()
        if method == "POST":
            body = await self._read_body(request)
            verb = match.group(4).lower()
            if verb != "predict":
                raise invalid_argument(f"The {verb} API is not served here; use :predict")
            prepared = await loop.run_in_executor(None, prepare_predict, self.versions, name, version, label, body)
            outputs = await self.batcher.submit(prepared.key, prepared.run, prepared.inputs, prepared.batch_size)
            return await loop.run_in_executor(None, predict_response, outputs, prepared.request_format)
        if not name:
            raise invalid_argument("Missing model name in request.")
        if match.group(4):
            servable = resolve_servable(self.versions, name, version, label)
            return json.dumps({
                "model_spec": {"name": servable.name, "signature_name": "", "version": str(servable.version)},
                "metadata": {"signature_def": servable.signature_defs},
            }, indent=1)
        # TF Serving answers a status request for a label with every version's status.
        return json.dumps({"model_version_status": self.versions.status(name, version)}, indent=1)

    async def _read_body(self, request: web.Request) -> bytes:
        declared = request.content_length
        if declared is not None and declared > self.max_request_bytes:
            raise _too_large(declared, self.max_request_bytes)
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _too_large(None, self.max_request_bytes) from None


def _version_number(text: Optional[str]) -> Optional[int]:
    if not text:
        return None
    if int(text) > _INT64_MAX:
        raise invalid_argument(f"Failed to convert version: {text} to numeric.")
    return int(text)


def _too_large(size: Optional[int], limit: int) -> ServingError:
    what = f"Request body of {size} bytes" if size is not None else "Request body"
    return invalid_argument(f"{what} exceeds the server's limit of {limit} bytes (--max_request_bytes)")


def _error_response(error: ServingError) -> web.Response:
    return web.Response(status=error.http_status, text=error_body(error.message), content_type="application/json")
