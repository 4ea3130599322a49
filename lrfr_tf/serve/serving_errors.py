"""Errors as TF Serving reports them: a canonical status code name, a message, and the HTTP status that
TF Serving's REST server (model_servers/http_server.cc, ToHTTPStatusCode) sends for that code."""

from __future__ import annotations

import json

# Canonical status code (absl / tensorflow.error.Code) -> HTTP status, as TF Serving maps them.
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServingError(Exception):
    """A failed request: ``code`` is a canonical status name (``"INVALID_ARGUMENT"``), ``message`` the text."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def to_string(self) -> str:
        """``INVALID_ARGUMENT: message``: absl::Status::ToString, used when TF Serving nests an error."""
        return f"{self.code}: {self.message}"


def invalid_argument(*parts) -> ServingError:
    return ServingError("INVALID_ARGUMENT", "".join(str(p) for p in parts))


def not_found(*parts) -> ServingError:
    return ServingError("NOT_FOUND", "".join(str(p) for p in parts))


def error_body(message: str) -> str:
    """The JSON body TF Serving sends with every failed request (util/json_tensor.cc, MakeJsonFromStatus)."""
    return json.dumps({"error": message}, indent=4)


def from_exception(error: BaseException) -> ServingError:
    """A ServingError for an exception raised while loading or running a model.

    TensorFlow errors keep their canonical code; Python argument errors (a signature called with the wrong
    inputs) are INVALID_ARGUMENT; anything else is UNKNOWN.
    """
    if isinstance(error, ServingError):
        return error
    code_number = getattr(error, "error_code", None)  # tf.errors.OpError
    if isinstance(code_number, int):
        import tensorflow as tf

        names = {getattr(tf.errors, name): name for name in HTTP_STATUS}
        message = getattr(error, "message", None) or str(error)
        return ServingError(names.get(code_number, "UNKNOWN"), message)
    if isinstance(error, (ValueError, TypeError)):
        return ServingError("INVALID_ARGUMENT", str(error))
    return ServingError("UNKNOWN", f"{type(error).__name__}: {error}")
