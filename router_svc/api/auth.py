"""API keys: ``Authorization: Bearer <key>`` checked against Settings.api_keys, before anything
else reads the request.

With no keys configured the API is open. Every key is compared with ``hmac.compare_digest``
(all of them, so the time taken does not say which key came close). ``AuthMiddleware`` runs
before routing, body parsing and the body limit, so a request without a valid key is a 401
whatever else is wrong with it, and an unknown path is a 401 rather than a 404.

Public without a key: ``/healthz`` and ``/readyz`` (for probes). ``/readyz`` shows its details
(suites, experts, what is not ready) only to a caller with a key; others see the status alone.
``/openapi.json``, ``/docs``, ``/redoc`` and ``/metrics`` need a key.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from router_svc.api.errors import HTTPError, error_response

PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})


def _bearer(headers: Headers) -> str | None:
    header = headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def key_matches(token: str, keys: list[bytes]) -> bool:
    given = token.encode("utf-8")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key)
    return matched


def key_error(headers: Headers, keys: list[bytes]) -> HTTPError | None:
    """The 401 for a request with these headers, or None when it may pass."""
    if not keys:
        return None
    token = _bearer(headers)
    if token is None:
        return HTTPError(
            401,
            "missing API key: send 'Authorization: Bearer <key>' (the server has keys set in "
            "ROUTER_SVC_API_KEYS)",
            type="authentication_error",
            code="missing_api_key",
        )
    if not key_matches(token, keys):
        return HTTPError(
            401, "invalid API key", type="authentication_error", code="invalid_api_key"
        )
    return None


def authorized(request: Request) -> bool:
    """Whether ``request`` carries a valid key (always, when the API is open)."""
    return key_error(request.headers, request.app.state.api_keys) is None


class AuthMiddleware:
    """401 in OpenAI's envelope, before anything else, unless the path is public or the
    request carries a configured key."""

    def __init__(self, app: ASGIApp, keys: list[bytes]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        error = key_error(Headers(scope=scope), self.keys)
        if error is not None:
            await error_response(error)(scope, receive, send)
            return
        await self.app(scope, receive, send)
