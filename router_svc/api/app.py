"""The FastAPI app: ``create_app(settings)``; ``create_app_from_env`` is uvicorn's factory.

Nothing connects here or at import: the lifespan builds the ``Services`` (pool, runtime, store,
micro-batcher) and keeps them on ``app.state.services``, then warms the default suite up in the
background (``/readyz`` is 503 until it is warm). Three ASGI middlewares wrap every request, in
this order: one gives it a request id (``x-request-id``, put on every log line) and counts it
in the metrics (as a 499 when the client left before the last byte), one checks the API key
(``api.auth``), one refuses bodies over ``max_body_bytes`` (413). Every log record has its
string arguments' control characters escaped, so text from a request (a path, a field)
cannot forge a log line.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router_svc.api.admission import CLIENT_CLOSED, ExpertQueues
from router_svc.api.auth import AuthMiddleware
from router_svc.api.errors import HTTPError, error_response, register_error_handler
from router_svc.api.metrics import Metrics
from router_svc.api.openapi import install_openapi
from router_svc.api.routes import batches, chat, feedback, health, models, route
from router_svc.api.state import (
    build_services,
    current_request_id,
    reset_request_id,
    set_request_id,
)
from router_svc.config.settings import Settings
from router_svc.version import __version__

logger = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_factory_installed = False


def escape_controls(text: str) -> str:
    """``text`` with every control character (newlines too) written as an escape: ``\\n``."""
    return _CONTROL.sub(lambda match: ascii(match.group())[1:-1], text)


def _escaped(args: Any) -> Any:
    if isinstance(args, tuple):
        return tuple(escape_controls(a) if isinstance(a, str) else a for a in args)
    if isinstance(args, dict):
        return {k: escape_controls(v) if isinstance(v, str) else v for k, v in args.items()}
    return args


def install_request_id_logging() -> None:
    """Give every log record a ``request_id`` attribute ("-" outside requests) and escape the
    control characters of its string arguments (no forged lines); idempotent."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = current_request_id()
        record.args = _escaped(record.args)
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


class RequestContextMiddleware:
    """Request id in, ``x-request-id`` out; request count and latency per endpoint."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = set_request_id(request_id)
        started = time.perf_counter()
        status = 500
        sent = left = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["x-request-id"] = request_id
            elif message["type"] == "http.response.body":
                sent = not message.get("more_body", False)
            await send(message)

        async def receive_watched() -> Message:
            nonlocal left
            message = await receive()
            left = left or message["type"] == "http.disconnect"
            return message

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive_watched, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            if left and not sent:  # the client went away before the end (a stream cut short)
                status = CLIENT_CLOSED
            self._record(scope, status, time.perf_counter() - started)
            reset_request_id(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        endpoint = str(getattr(route, "path", "unmatched"))
        method = str(scope.get("method", ""))
        self.metrics.requests.labels(endpoint=endpoint, method=method, status=str(status)).inc()
        self.metrics.latency.labels(endpoint=endpoint).observe(seconds)
        logger.info("%s %s -> %d in %.3f s", method, scope.get("path"), status, seconds)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            given = bytes(value).decode("latin-1")
            if _REQUEST_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: by Content-Length, or counted when chunked."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        if length is None and scope.get("method") in ("POST", "PUT", "PATCH"):
            buffered = await self._buffer(receive)
            if buffered is None:
                await self._refuse(scope, receive, send)
                return
            receive = _replay(buffered, receive)
        await self.app(scope, receive, send)

    async def _buffer(self, receive: Receive) -> list[Message] | None:
        """The body messages of a chunked request, or None once it passes the limit."""
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return None
            if message["type"] != "http.request" or not message.get("more_body"):
                return messages

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_bytes
        error = HTTPError(
            413,
            f"the request body is larger than {limit} bytes (ROUTER_SVC_MAX_BODY_BYTES)",
            code="request_too_large",
        )
        await error_response(error)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the services on startup, release models and the store on shutdown."""
    services = build_services(app.state.settings, app.state.metrics)
    app.state.services = services
    logger.info("serving suites %s (default %s)", services.suites, services.default_suite)
    warming = asyncio.create_task(services.warm_up())
    try:
        yield
    finally:
        warming.cancel()
        await asyncio.gather(warming, return_exceptions=True)
        await services.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for ``settings`` (the environment's when None); nothing connects yet."""
    settings = settings if settings is not None else Settings()
    install_request_id_logging()
    app = FastAPI(
        title="router-svc",
        version=__version__,
        summary="A training-free, skill-based router over a pool of expert LLMs.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.api_keys = [key.get_secret_value().encode("utf-8") for key in settings.api_keys]
    app.state.queues = ExpertQueues(settings.max_queue)
    register_error_handler(app)
    install_openapi(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AuthMiddleware, keys=app.state.api_keys)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    app.include_router(health.router)
    app.include_router(health.metrics_router)
    for module in (chat, route, models, batches, feedback):
        app.include_router(module.router)
    return app


def create_app_from_env() -> FastAPI:
    """uvicorn's factory: ``uvicorn --factory router_svc.api.app:create_app_from_env``."""
    return create_app(Settings())
