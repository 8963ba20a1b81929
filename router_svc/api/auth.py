"""API keys: ``Authorization: Bearer <key>`` checked against Settings.api_keys.

With no keys configured the API is open. Every key is compared with ``hmac.compare_digest``
(all of them, so the time taken does not say which key came close). /healthz and /readyz
stay open for probes; every other route depends on ``require_api_key``.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from router_svc.api.errors import HTTPError


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
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


async def require_api_key(request: Request) -> None:
    """401 in the OpenAI envelope unless a configured key is presented (a dependency)."""
    keys: list[bytes] = request.app.state.api_keys
    if not keys:
        return
    token = _bearer(request)
    if token is None:
        raise HTTPError(
            401,
            "missing API key: send 'Authorization: Bearer <key>' (the server has keys set in "
            "ROUTER_SVC_API_KEYS)",
            type="authentication_error",
            code="missing_api_key",
        )
    if not key_matches(token, keys):
        raise HTTPError(401, "invalid API key", type="authentication_error", code="invalid_api_key")
