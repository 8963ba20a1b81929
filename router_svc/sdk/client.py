"""Clients of a router-svc server: ``AsyncClient`` (httpx inside) and its sync twin ``Client``.

    async with router_svc.AsyncClient("http://127.0.0.1:8000") as client:
        answer = await client.chat("What is 12 + 8?", k=2)
        print(answer.text, answer.experts, answer.method)

``Client`` has the same methods, synchronous: each one runs the async method's coroutine on a
private event loop in a background thread (``_sync.Portal``), so the two never drift apart.

Errors come from ``router_svc.errors``: an error answer of the server (OpenAI's envelope) is an
``APIError`` with the server's message, status code, type and code, or a ``JobNotFoundError``
for an unknown batch (its ``__cause__`` is the ``APIError``). A server that cannot be reached or
does not answer in time is an ``APIError`` with ``status_code`` 0 and ``code``
``connection_error`` or ``timeout``, and a message naming the URL.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Concatenate, Literal, ParamSpec, Self, Unpack

import httpx
from tqdm import tqdm

from router_svc.config.knobs import KnobArgs, knob_args
from router_svc.errors import APIError, ConfigError
from router_svc.questions.jsonl import parse_jsonl
from router_svc.sdk._inputs import MessageLike, QuestionLike, batch_jsonl, message_json
from router_svc.sdk._stream import AsyncChatStream, ChatStream, raise_for_status, transport_errors
from router_svc.sdk._sync import Portal, blocking
from router_svc.sdk.feedback import Feedback
from router_svc.sdk.models import Batch, BatchResult, ChatResult, ModelInfo, RouteDecision

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
URL_ENV = "ROUTER_SVC_URL"
API_KEY_ENV = "ROUTER_SVC_API_KEY"
DEFAULT_TIMEOUT_S = 300.0
ROUTER_MODEL = "router-svc"

P = ParamSpec("P")
Questions = str | os.PathLike[str] | Sequence[QuestionLike]
"""A JSONL file (a path), JSONL text, or questions (texts, ``Question``s or dicts)."""


def base_url_of(base_url: str | None) -> str:
    """The server's root URL: the argument, else $ROUTER_SVC_URL, else the local default.

    A trailing ``/v1`` (the URL an ``openai`` client takes) is dropped.
    """
    url = (base_url or os.environ.get(URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    return url.removesuffix("/v1")


def _headers(api_key: str | None) -> dict[str, str]:
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    return {"Authorization": f"Bearer {key}"} if key else {}


def _fields(**values: object) -> dict[str, object]:
    return {name: value for name, value in values.items() if value is not None}


def _model(model: str, suite: str | None) -> str:
    if suite is None:
        return model
    if model != ROUTER_MODEL:
        raise ConfigError(f"suite={suite!r} goes with model={ROUTER_MODEL!r}, not {model!r}")
    return f"{ROUTER_MODEL}:{suite}"


class ChatOptions(KnobArgs, total=False):
    """``chat``'s and ``chat_stream``'s options: the routing knobs (``KnobArgs``) and these."""

    max_tokens: int
    """The limit of every generation: a direct call's, or on a routed call each recruited
    expert's and the aggregator's."""
    temperature: float
    """Direct expert calls only (routed experts keep their own settings), as ``top_p``."""
    top_p: float
    stop: str | list[str]
    """Stop sequences of a direct expert call."""


SAMPLING = ("max_tokens", "temperature", "top_p", "stop")


def chat_body(
    messages: str | Sequence[MessageLike],
    model: str,
    suite: str | None,
    options: Mapping[str, object],
    extra_body: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The body of ``POST /v1/chat/completions``: the turns, the options that are set, then
    ``extra_body``."""
    if isinstance(messages, str):
        turns = [{"role": "user", "content": messages}]
    else:
        turns = [message_json(message) for message in messages]
    knobs = {name: value for name, value in options.items() if name not in SAMPLING}
    sampling = {name: value for name, value in options.items() if name in SAMPLING}
    fields = {**knob_args(knobs, "chat"), **_fields(**sampling), **(extra_body or {})}
    return {"model": _model(model, suite), "messages": turns, **fields}


class AsyncClient:
    """An async client of one router-svc server; use it as an async context manager.

    ``base_url`` defaults to $ROUTER_SVC_URL, then http://127.0.0.1:8000; ``api_key`` to
    $ROUTER_SVC_API_KEY (sent as ``Authorization: Bearer``); ``timeout`` is in seconds.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url_of(base_url)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=_headers(api_key),
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def chat(
        self,
        messages: str | Sequence[MessageLike],
        *,
        model: str = ROUTER_MODEL,
        suite: str | None = None,
        extra_body: Mapping[str, object] | None = None,
        **options: Unpack[ChatOptions],
    ) -> ChatResult:
        """Answer a question (or the last user message) through the router.

        ``suite`` picks a profiled suite (``model="router-svc:<suite>"``); ``model`` may also
        name one expert, which then gets the whole conversation. ``options`` (``ChatOptions``)
        are the routing knobs ``k``, ``tagger``, ``router``, ``cost_weight``, ``mode``,
        ``seed`` (``router_svc.config.knobs.RoutingKnobs``; one left out takes the server's
        default) and ``max_tokens``, the limit of every generation (on a routed call each
        expert's and the aggregator's); ``temperature``, ``top_p`` and ``stop`` apply to
        direct expert calls (routed experts keep their own settings). ``extra_body`` adds any
        other request field.
        """
        body = chat_body(messages, model, suite, options, extra_body)
        return ChatResult.model_validate(await self._json("POST", "/v1/chat/completions", body))

    def chat_stream(
        self,
        messages: str | Sequence[MessageLike],
        *,
        model: str = ROUTER_MODEL,
        suite: str | None = None,
        extra_body: Mapping[str, object] | None = None,
        **options: Unpack[ChatOptions],
    ) -> AsyncChatStream:
        """Like ``chat``, streamed: ``async for piece in client.chat_stream(...)`` yields text.

        The request is sent on the first iteration. The returned stream's ``router`` holds the
        routing decision once the first piece arrived and the whole explanation at the end,
        where ``usage``, ``finish_reason`` and ``result`` (a ``ChatResult``) are set too.
        """
        body = chat_body(messages, model, suite, options, extra_body)
        body["stream"] = True
        return AsyncChatStream(self._http, body, self.base_url)

    async def route(
        self,
        question: str,
        *,
        suite: str | None = None,
        **knobs: Unpack[KnobArgs],
    ) -> RouteDecision:
        """Which experts would answer ``question``, and why; nothing is generated."""
        body = {**_fields(question=question, suite=suite), **knob_args(dict(knobs), "route")}
        return RouteDecision.model_validate(await self._json("POST", "/v1/route", body))

    async def feedback(
        self,
        completion_id: str,
        *,
        score: float | None = None,
        thumbs: Literal["up", "down"] | None = None,
        scores: dict[str, float] | None = None,
    ) -> Feedback:
        """Grade an answer the server gave (its ``id``): a ``score`` in [0, 1], ``thumbs``
        up or down, or ``scores`` per expert; the router learns from it within seconds."""
        body = _fields(id=completion_id, score=score, thumbs=thumbs, scores=scores)
        return Feedback.model_validate(await self._json("POST", "/v1/feedback", body))

    async def models(self) -> list[ModelInfo]:
        """Every ``model`` value the server accepts: the router, one per suite, each expert."""
        listing = await self._json("GET", "/v1/models")
        return [ModelInfo.model_validate(entry) for entry in listing["data"]]

    async def submit_batch(
        self,
        questions: Questions,
        *,
        suite: str | None = None,
        **knobs: Unpack[KnobArgs],
    ) -> Batch:
        """Queue questions for the server's workers; returns the batch (status ``queued``).

        ``questions`` is a JSONL file path, JSONL text, or a list of question texts,
        ``Question``s or dicts (``id``, ``question``, optional ``gold_answer``, ``category``).
        """
        fields = {**_fields(suite=suite), **knob_args(dict(knobs), "submit_batch")}
        text = batch_jsonl(questions)
        files = {"file": ("questions.jsonl", text.encode("utf-8"), "application/jsonl")}
        data = {name: str(value) for name, value in fields.items()}
        response = await self._send("POST", "/v1/batches", files=files, data=data)
        return Batch.model_validate(response.json())

    async def batch(self, batch_id: str) -> Batch:
        """The batch's status and request counts."""
        return Batch.model_validate(await self._json("GET", f"/v1/batches/{batch_id}"))

    async def wait(
        self,
        batch_id: str,
        *,
        poll_s: float = 1.0,
        timeout_s: float | None = None,
        progress: bool = True,
    ) -> Batch:
        """Poll until the batch is finished (completed or cancelled), with a progress bar.

        Raises ``APIError`` (code ``wait_timeout``) when ``timeout_s`` passes first.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        batch = await self.batch(batch_id)
        total = batch.request_counts.total
        with tqdm(total=total, desc=batch_id[:14], unit="q", disable=not progress) as bar:
            while not batch.finished:
                _check_deadline(batch, deadline, timeout_s)
                bar.update(batch.done - bar.n)
                await asyncio.sleep(_pause(poll_s, deadline))
                batch = await self.batch(batch_id)
            bar.update(batch.done - bar.n)
        return batch

    async def batch_results(self, batch_id: str, *, partial: bool = False) -> list[BatchResult]:
        """The answers in input order; ``partial`` returns those recorded so far."""
        params = {"partial": "true"} if partial else None
        response = await self._send("GET", f"/v1/batches/{batch_id}/results", params=params)
        lines = parse_jsonl(response.text, f"the results of {batch_id}")
        return [BatchResult.model_validate(value) for _, value in lines]

    async def cancel_batch(self, batch_id: str) -> Batch:
        """Cancel: workers skip the batch's unanswered questions; it stays readable."""
        path = f"/v1/batches/{batch_id}/cancel"
        return Batch.model_validate(await self._json("POST", path))

    async def delete_batch(self, batch_id: str) -> None:
        """Delete the batch and its results (a running batch is cancelled first); afterwards
        every call about it raises ``JobNotFoundError``."""
        await self._send("DELETE", f"/v1/batches/{batch_id}")

    async def _json(self, method: str, path: str, body: object = None) -> Any:
        response = await self._send(method, path, json=body)
        return response.json()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with transport_errors(self.base_url):
            response = await self._http.request(method, path, **kwargs)
        raise_for_status(response)
        return response


def _pause(poll_s: float, deadline: float | None) -> float:
    if deadline is None:
        return poll_s
    return max(0.0, min(poll_s, deadline - time.monotonic()))


def _check_deadline(batch: Batch, deadline: float | None, timeout_s: float | None) -> None:
    if deadline is None or time.monotonic() < deadline:
        return
    counts = batch.request_counts
    raise APIError(
        f"batch {batch.id} is still {batch.status} after {timeout_s} s ({batch.done} of "
        f"{counts.total} questions answered); wait again, or cancel it with cancel_batch",
        status_code=0,
        type="timeout_error",
        code="wait_timeout",
    )


def _streaming(
    method: Callable[Concatenate[AsyncClient, P], AsyncChatStream],
) -> Callable[Concatenate[Client, P], ChatStream]:
    """The sync twin of ``AsyncClient.chat_stream``: a sync iterator over the same stream."""

    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> ChatStream:
        return ChatStream(self._portal, method(self._aio, *args, **kwargs))

    call.__doc__ = method.__doc__
    call.__name__ = method.__name__
    return call


class Client:
    """The synchronous client: ``AsyncClient``'s methods, run on a private event loop.

    ``with router_svc.Client() as client: print(client.chat("What is 12 + 8?").text)``
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._portal = Portal("router-svc-client")
        self._aio = AsyncClient(base_url, api_key=api_key, timeout=timeout, transport=transport)
        self._closed = False

    @property
    def base_url(self) -> str:
        return self._aio.base_url

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool and stop the private event loop (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._portal.run(self._aio.aclose())
        self._portal.close()

    chat = blocking(AsyncClient.chat)
    chat_stream = _streaming(AsyncClient.chat_stream)
    route = blocking(AsyncClient.route)
    models = blocking(AsyncClient.models)
    feedback = blocking(AsyncClient.feedback)
    submit_batch = blocking(AsyncClient.submit_batch)
    batch = blocking(AsyncClient.batch)
    wait = blocking(AsyncClient.wait)
    batch_results = blocking(AsyncClient.batch_results)
    cancel_batch = blocking(AsyncClient.cancel_batch)
    delete_batch = blocking(AsyncClient.delete_batch)
