"""Chat streams (server-sent events) and the translation of HTTP failures into our errors.

The server streams OpenAI ``chat.completion.chunk`` events: a first chunk with the role and the
routing decision in ``router``, one chunk per text piece, a last chunk with the finish reason,
``usage`` and the whole ``router`` explanation, then ``data: [DONE]``. An error after the first
byte arrives as an event holding OpenAI's error envelope; it is raised as an ``APIError``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Self

import httpx

from router_svc.errors import APIError, JobNotFoundError, RouterSvcError
from router_svc.sdk._sync import Portal
from router_svc.sdk.models import ChatMessage, ChatResult, Choice, RouterInfo, Usage

STREAM_STATUS = {"backend_error": 502, "backend_timeout": 504, "store_unavailable": 503}
"""The status an error sent inside a stream would have had (the stream itself answered 200)."""


@contextlib.contextmanager
def transport_errors(base_url: str) -> Iterator[None]:
    """httpx's transport failures as ``APIError``s (status 0) naming the server's URL."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise APIError(
            f"router-svc at {base_url} did not answer in time ({type(exc).__name__}); "
            "pass a larger timeout= to the client, or check the server's load",
            status_code=0,
            type="timeout_error",
            code="timeout",
        ) from exc
    except httpx.TransportError as exc:
        raise APIError(
            f"cannot reach router-svc at {base_url} ({type(exc).__name__}: {exc}); is "
            "`router-svc serve` running there? Pass base_url= or set ROUTER_SVC_URL",
            status_code=0,
            type="connection_error",
            code="connection_error",
        ) from exc


def api_error(status: int, text: str) -> RouterSvcError:
    """The error of a failed answer: ``JobNotFoundError`` for an unknown batch, else
    ``APIError`` with the envelope's message, type and code."""
    error = _envelope(text)
    detail = text.strip()[:300] or "(empty body)"
    message = str(error.get("message") or f"HTTP {status} from router-svc: {detail}")
    exc = APIError(
        message,
        status_code=status,
        type=str(error.get("type") or ""),
        code=str(error.get("code") or ""),
    )
    if exc.code != "job_not_found":
        return exc
    missing = JobNotFoundError(message)
    missing.__cause__ = exc
    return missing


def raise_for_status(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise api_error(response.status_code, response.text)


def _envelope(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _stream_error(error: dict[str, Any]) -> RouterSvcError:
    status = STREAM_STATUS.get(str(error.get("code")), 500)
    return api_error(status, json.dumps({"error": error}))


class AsyncChatStream:
    """The text pieces of a streamed answer, as an async iterator.

    ``router`` is the routing decision after the first piece and the whole explanation at the
    end; ``usage``, ``finish_reason`` and ``result`` (a ``ChatResult``) are set at the end.
    Leaving the loop early? ``await stream.aclose()``, or use ``async with``.
    """

    def __init__(self, http: httpx.AsyncClient, body: dict[str, object], base_url: str) -> None:
        self._http = http
        self._body = body
        self._base_url = base_url
        self._response: httpx.Response | None = None
        self._lines: AsyncIterator[str] | None = None
        self._pieces: list[str] = []
        self._finished = False
        self._closed = False
        self.id = ""
        self.model = str(body.get("model", ""))
        self.router: RouterInfo | None = None
        self.usage: Usage | None = None
        self.finish_reason: str | None = None

    @property
    def text(self) -> str:
        """The text streamed so far."""
        return "".join(self._pieces)

    @property
    def done(self) -> bool:
        """True once the server sent the end of the stream."""
        return self._finished

    @property
    def result(self) -> ChatResult:
        """The answer so far as a ``ChatResult`` (the whole answer once ``done``)."""
        message = ChatMessage(role="assistant", content=self.text)
        return ChatResult(
            id=self.id,
            object="chat.completion",
            model=self.model,
            choices=[Choice(message=message, finish_reason=self.finish_reason)],
            usage=self.usage or Usage(),
            router=self.router or RouterInfo(),
        )

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str:
        if self._closed:
            raise StopAsyncIteration
        try:
            piece = await self._next_piece()
        except BaseException:
            await self.aclose()
            raise
        if piece is None:
            await self.aclose()
            raise StopAsyncIteration
        return piece

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the response (the server stops generating)."""
        self._closed = True
        closer = getattr(self._lines, "aclose", None)
        if closer is not None:
            await closer()
        if self._response is not None:
            await self._response.aclose()

    async def _next_piece(self) -> str | None:
        with transport_errors(self._base_url):
            async for line in await self._open():
                piece = self._event(line)
                if piece:
                    return piece
                if self._finished:
                    return None
        raise APIError(
            "the stream ended before its last event ([DONE]); the server log says why",
            status_code=self._response.status_code if self._response else 0,
            type="server_error",
            code="incomplete_stream",
        )

    async def _open(self) -> AsyncIterator[str]:
        if self._lines is None:
            request = self._http.build_request("POST", "/v1/chat/completions", json=self._body)
            self._response = await self._http.send(request, stream=True)
            if self._response.status_code >= 400:
                await self._response.aread()
                raise_for_status(self._response)
            self._lines = self._response.aiter_lines()
        return self._lines

    def _event(self, line: str) -> str:
        """Take in one SSE line; returns its text piece ('' for none)."""
        if not line.startswith("data:"):
            return ""
        data = line.removeprefix("data:").strip()
        if data == "[DONE]":
            self._finished = True
            return ""
        chunk = json.loads(data)
        if "error" in chunk:
            raise _stream_error(chunk["error"])
        return self._chunk(chunk)

    def _chunk(self, chunk: dict[str, Any]) -> str:
        self.id = chunk.get("id", self.id)
        self.model = chunk.get("model", self.model)
        if chunk.get("router") is not None:
            self.router = RouterInfo.model_validate(chunk["router"])
        if chunk.get("usage") is not None:
            self.usage = Usage.model_validate(chunk["usage"])
        choice = (chunk.get("choices") or [{}])[0]
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        piece = str((choice.get("delta") or {}).get("content") or "")
        if piece:
            self._pieces.append(piece)
        return piece


class ChatStream:
    """The sync iterator over an ``AsyncChatStream`` (``Client.chat_stream``)."""

    def __init__(self, portal: Portal, stream: AsyncChatStream) -> None:
        self._portal = portal
        self.stream = stream

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> str:
        try:
            return self._portal.run(self.stream.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._portal.run(self.stream.aclose())

    @property
    def text(self) -> str:
        return self.stream.text

    @property
    def done(self) -> bool:
        return self.stream.done

    @property
    def router(self) -> RouterInfo | None:
        return self.stream.router

    @property
    def usage(self) -> Usage | None:
        return self.stream.usage

    @property
    def finish_reason(self) -> str | None:
        return self.stream.finish_reason

    @property
    def result(self) -> ChatResult:
        return self.stream.result
