"""Every error the API answers, in OpenAI's envelope, from one registered handler.

    {"error": {"message": "...", "type": "invalid_request_error", "param": "k", "code": "..."}}

Routes raise; they never build error responses. ``error_body`` maps an exception to a status
and an envelope: our own ``HTTPError``s carry theirs, RouterSvcErrors map by class (400 bad
routing parameters, 404 unknown model or job, a backend failure by its kind in
``FAILURE_STATUS``, 503 store down), request validation errors become 400 with ``param`` naming
the field, anything else is a 500 that logs its traceback and shows only the request id.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from router_svc.api.state import current_request_id
from router_svc.config.knobs import KNOB_ERRORS
from router_svc.errors import (
    BackendError,
    ConfigError,
    DataError,
    FailureKind,
    JobNotFoundError,
    RouterSvcError,
    RoutingError,
    StoreError,
    UnknownComponentError,
)

logger = logging.getLogger(__name__)

INVALID = "invalid_request_error"


class HTTPError(RouterSvcError):
    """An error answer with its status, OpenAI error type, string code and offending field."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID,
        code: str = "invalid_value",
        param: str | None = None,
    ) -> None:
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        super().__init__(message)


def invalid(message: str, param: str | None, code: str = "invalid_value") -> HTTPError:
    """A 400 for a bad request field."""
    return HTTPError(400, message, code=code, param=param)


@dataclass(frozen=True)
class ErrorBody:
    status: int
    message: str
    type: str
    code: str
    param: str | None = None

    def envelope(self) -> dict[str, Any]:
        """OpenAI's error object; text the client sent is made encodable (lone surrogates)."""
        param = _encodable(self.param) if self.param is not None else None
        error = {"message": _encodable(self.message), "type": self.type, "param": param}
        return {"error": error | {"code": self.code}}


def _encodable(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def error_body(exc: Exception) -> ErrorBody:
    """The status and envelope fields for ``exc``."""
    if isinstance(exc, HTTPError):
        return ErrorBody(exc.status, str(exc), exc.type, exc.code, exc.param)
    if isinstance(exc, RequestValidationError):
        return _validation_body(exc)
    if isinstance(exc, StarletteHTTPException):
        return _http_body(exc)
    if isinstance(exc, RouterSvcError):
        return _router_body(exc)
    return ErrorBody(
        500,
        f"internal error (request id {current_request_id()}); the server log has the details",
        "server_error",
        "internal_error",
    )


def _router_body(exc: RouterSvcError) -> ErrorBody:
    message = str(exc)
    if isinstance(exc, UnknownComponentError):
        if exc.kind in ("expert", "model"):
            return ErrorBody(404, message, INVALID, "model_not_found", "model")
        return ErrorBody(400, message, INVALID, f"unknown_{exc.kind}", exc.kind)
    if isinstance(exc, RoutingError):
        return ErrorBody(400, message, INVALID, "routing_error")
    if isinstance(exc, JobNotFoundError):
        return ErrorBody(404, message, INVALID, "job_not_found")
    if isinstance(exc, BackendError):
        return failure_body(exc.failure, message)
    if isinstance(exc, StoreError):
        return ErrorBody(503, message, "server_error", "store_unavailable")
    if isinstance(exc, DataError | ConfigError):
        return ErrorBody(503, message, "server_error", "not_ready")
    return ErrorBody(500, message, "server_error", "internal_error")


@dataclass(frozen=True)
class FailureStatus:
    """The answer of one kind of failure: HTTP status, OpenAI error type, code, field."""

    status: int
    type: str
    code: str
    param: str | None = None


FAILURE_STATUS: dict[FailureKind, FailureStatus] = {
    FailureKind.CONTEXT_LENGTH: FailureStatus(400, INVALID, "context_length_exceeded", "messages"),
    FailureKind.TIMEOUT: FailureStatus(504, "server_error", "backend_timeout"),
    FailureKind.BACKEND: FailureStatus(502, "server_error", "backend_error"),
    FailureKind.LOST: FailureStatus(502, "server_error", "backend_error"),
    FailureKind.INTERNAL: FailureStatus(500, "server_error", "internal_error"),
}
"""Every kind of failed expert answer, as the API answers it: the one place that maps them
(a backend exception raised to a handler, or every recruited expert failing alike)."""


def failure_body(kind: FailureKind, message: str) -> ErrorBody:
    """The error answer of a failure of ``kind``."""
    answer = FAILURE_STATUS[kind]
    return ErrorBody(answer.status, message, answer.type, answer.code, answer.param)


def _validation_body(exc: RequestValidationError) -> ErrorBody:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(part) for part in first.get("loc", ()) if part != "body" and not _is_tag(part)]
    kind = str(first.get("type", ""))
    if kind == "json_invalid":
        detail = first.get("ctx", {}).get("error", "")
        message = f"the request body is not valid JSON ({detail})".replace(" ()", "")
        return ErrorBody(400, message, INVALID, "invalid_json")
    param = ".".join(loc) or None
    if param is None and kind in ("model_attributes_type", "dict_type"):
        message = "the request body must be a JSON object (Content-Type: application/json)"
        return ErrorBody(400, message, INVALID, "invalid_body")
    if kind == "missing":
        where = param or "the body"
        return ErrorBody(400, f"{where} is required", INVALID, "missing_field", param)
    message = str(first.get("msg", "invalid request"))
    if kind == "finite_number":
        message = f"{first.get('input')} is not a number; give a finite one"
    message = f"{param}: {message}" if param else message
    code = kind if kind in _OWN_CODES else "invalid_value"
    return ErrorBody(400, message, INVALID, code, param)


_OWN_CODES = KNOB_ERRORS | {"tools_not_supported"}
"""Validation error types that are their own ``code`` (the rest are ``invalid_value``)."""

_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "none", "constrained-int"})


def _is_tag(part: object) -> bool:
    """Whether a validation error's location part names a union member (``str``,
    ``function-after[...]``), not a field."""
    return isinstance(part, str) and (part in _TYPE_TAGS or "[" in part)


_UNPARSED = "There was an error parsing the body"
"""FastAPI's 400 for a body it could not decode before parsing JSON (not UTF-8)."""


def _unparsed(cause: BaseException | None) -> str:
    """Why FastAPI could not parse a body (its 400 says only that it could not)."""
    if isinstance(cause, RecursionError):
        return (
            "the request body is nested too deeply to parse (arrays and objects may be nested "
            f"at most about {sys.getrecursionlimit()} levels)"
        )
    if isinstance(cause, UnicodeDecodeError):
        return "the request body is not valid JSON: it must be UTF-8 encoded text"
    return f"the request body could not be parsed as JSON ({type(cause).__name__})"


def _http_body(exc: StarletteHTTPException) -> ErrorBody:
    if exc.status_code == 400 and exc.detail == _UNPARSED:
        return ErrorBody(400, _unparsed(exc.__cause__), INVALID, "invalid_json")
    codes = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
    code = codes.get(exc.status_code, "http_error")
    kind = INVALID if exc.status_code < 500 else "server_error"
    return ErrorBody(exc.status_code, str(exc.detail), kind, code)


def error_response(exc: Exception) -> JSONResponse:
    """The envelope response of ``exc`` (the handler's, and the body-limit middleware's)."""
    body = error_body(exc)
    headers = dict(_HEADERS.get(body.status, {}))
    if isinstance(exc, StarletteHTTPException) and exc.headers:
        headers.update(exc.headers)  # a 405's Allow
    return JSONResponse(body.envelope(), status_code=body.status, headers=headers or None)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")

RETRY_AFTER_S = 1
"""What a 429 (an expert's queue is full) tells the client to wait, in seconds."""

_HEADERS = {401: {"WWW-Authenticate": "Bearer"}, 429: {"Retry-After": str(RETRY_AFTER_S)}}
"""Headers an error answer of the status carries."""


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    """The one handler: every exception becomes OpenAI's error envelope."""
    body = error_body(exc)
    where = f"{request.method} {request.url.path} -> {body.status}"
    if body.status >= 500:
        logger.error("%s: %s", where, body.message, exc_info=not isinstance(exc, RouterSvcError))
    else:
        logger.info("%s: %s", where, body.message)
    response = error_response(exc)
    if body.status == 405:
        response.headers["Allow"] = allowed_methods(request)
    return response


def allowed_methods(request: Request) -> str:
    """Every method some route answers at the request's path: a 405's Allow (Starlette's
    names only the first route that matched the path)."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed)


def register_error_handler(app: FastAPI) -> None:
    """Route every exception class the app can see to ``handle_error``."""
    for kind in (RouterSvcError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, handle_error)
