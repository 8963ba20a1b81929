"""JSON request bodies are UTF-8 (RFC 8259, section 8.1), checked before they are parsed.

``json.loads`` of bytes would quietly decode UTF-16 and UTF-32 and skip a UTF-8 byte order
mark, so such a body would be answered as if it were right. ``JSONBodyRoute`` (the route class
of the JSON routes) refuses it first with a 400 ``invalid_json`` that says what is wrong.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from router_svc.api.errors import HTTPError

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF8, "UTF-8"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def not_json_text(message: str) -> HTTPError:
    return HTTPError(400, f"the request body is not valid JSON: {message}", code="invalid_json")


def check_utf8(body: bytes) -> None:
    """A 400 unless ``body`` is UTF-8 text without a byte order mark."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            raise not_json_text(
                f"it starts with a {encoding} byte order mark; send UTF-8 without one"
            )
    if b"\x00" in body:
        raise not_json_text(
            "it holds NUL bytes (UTF-16 or UTF-32 text?); send UTF-8, and write a NUL "
            "character inside a string as \\u0000"
        )
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise not_json_text(f"it must be UTF-8 encoded text (byte {exc.start} is not)") from exc


class JSONBodyRoute(APIRoute):
    """An APIRoute whose JSON body must be UTF-8 text (``check_utf8``) before it is parsed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            check_utf8(await request.body())
            return await handler(request)

        return checked
