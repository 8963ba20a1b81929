"""Back-pressure: a bounded queue per expert, a deadline per request, cancellation on disconnect.

Every generating request holds a slot of each expert it runs (a direct call: its expert; a
routed call: the recruited experts, once routing chose them) until its answer is sent. An expert
holds at most ``max_queue`` requests, running or waiting; one more is refused at once with a 429
and ``Retry-After``, instead of waiting minutes behind the others. A routed request is refused
before any work (tagging, routing) when fewer than k of the suite's experts have a free slot.
``until_done`` runs a request's work under the deadline (504 past it) and cancels the work when
the client goes away, so no expert keeps generating for nobody.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import StreamingResponse

from router_svc.api.errors import RETRY_AFTER_S, HTTPError

T = TypeVar("T")

CLIENT_CLOSED = 499
"""The status the metrics record for a request whose client went away (nginx's)."""


class Held:
    """Slots held in an ExpertQueues; ``release`` gives them back (once)."""

    def __init__(self, queues: ExpertQueues, experts: list[str]) -> None:
        self.queues = queues
        self.experts = experts

    def release(self) -> None:
        experts, self.experts = self.experts, []
        self.queues.held.subtract(experts)


class ExpertQueues:
    """How many requests each expert holds now; at most ``max_queue`` each."""

    def __init__(self, max_queue: int) -> None:
        self.max_queue = max_queue
        self.held: Counter[str] = Counter()

    def hold(self, experts: Sequence[str]) -> Held:
        """A slot of every expert in ``experts``; a 429 if one of them is full."""
        wanted = list(dict.fromkeys(experts))
        full = [e for e in wanted if self.held[e] >= self.max_queue]
        if full:
            raise _queue_full(f"too many requests for {', '.join(full)}", self.max_queue)
        self.held.update(wanted)
        return Held(self, wanted)

    def check_room(self, experts: Sequence[str], k: int) -> None:
        """A 429 when fewer than ``k`` of ``experts`` have a free slot: no team of k could be
        admitted, so a routed request is refused before it is tagged and routed."""
        free = [e for e in dict.fromkeys(experts) if self.held[e] < self.max_queue]
        if len(free) < k:
            message = f"only {len(free)} of the suite's experts can take a request, {k} needed"
            raise _queue_full(message, self.max_queue)

    @contextmanager
    def admit(self, experts: Sequence[str]) -> Iterator[None]:
        """Hold a slot of every expert in ``experts`` while the block runs."""
        held = self.hold(experts)
        try:
            yield
        finally:
            held.release()


def _queue_full(message: str, max_queue: int) -> HTTPError:
    return HTTPError(
        429,
        f"{message} ({max_queue} requests each, ROUTER_SVC_MAX_QUEUE); retry after "
        f"{RETRY_AFTER_S} s",
        type="rate_limit_error",
        code="queue_full",
    )


async def released(stream: AsyncIterable[Any], held: Held) -> AsyncIterator[Any]:
    """``stream``, releasing ``held`` once it ends, fails or is closed."""
    try:
        async for chunk in stream:
            yield chunk
    finally:
        held.release()


async def holding(held: Held, respond: Awaitable[StreamingResponse]) -> StreamingResponse:
    """The streamed response ``respond`` makes, keeping ``held`` until its stream ends (given
    back at once when the response fails before it starts)."""
    try:
        response = await respond
    except BaseException:
        held.release()
        raise
    response.body_iterator = released(response.body_iterator, held)
    return response


def queues_of(request: Request) -> ExpertQueues:
    """The app's expert queues."""
    queues: ExpertQueues = request.app.state.queues
    return queues


async def until_done(request: Request, work: Awaitable[T], deadline_s: float) -> T:
    """``work``'s result; the work is cancelled when the client disconnects first (a 499 for
    the metrics and the log) or past ``deadline_s`` seconds (a 504)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait(
            {task, watcher}, timeout=deadline_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        watcher.cancel()
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    if watcher in done:
        raise HTTPError(CLIENT_CLOSED, "the client closed the connection", code="client_closed")
    message = f"no answer within {deadline_s:g} s (ROUTER_SVC_REQUEST_TIMEOUT_S)"
    raise HTTPError(504, message, type="server_error", code="deadline_exceeded")


async def _disconnected(request: Request) -> None:
    while not await request.is_disconnected():
        await asyncio.sleep(0.1)
