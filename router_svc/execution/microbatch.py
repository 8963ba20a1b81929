"""Micro-batching for the online server: concurrent requests to one expert that arrive within
a short window go to the engine in one ``generate`` call.

Each expert has a queue and one background task that drains it: the task takes the first
waiting request, gathers more for up to ``max_wait_ms`` (or until ``max_batch_size``), sends the
batch and hands each caller its own completion, or the batch's error. An engine whose
requests are independent calls (``Engine.independent_requests``: a remote API) gains nothing
from a batch, so its requests skip the window and the queue and go to it at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from router_svc.errors import RouterSvcError
from router_svc.execution.models import ModelManager
from router_svc.types import Completion, GenerationRequest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MicroBatchStats:
    """The batches sent so far and their sizes, in the order they were sent."""

    sizes: tuple[int, ...] = ()

    @property
    def batches(self) -> int:
        return len(self.sizes)

    @property
    def requests(self) -> int:
        return sum(self.sizes)


@dataclass(frozen=True)
class _Pending:
    request: GenerationRequest
    future: asyncio.Future[Completion]


class MicroBatcher:
    """Gathers concurrent ``submit`` calls per expert into batched ``generate`` calls."""

    def __init__(
        self, models: ModelManager, *, max_batch_size: int = 8, max_wait_ms: float = 10.0
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self._models = models
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self._queues: dict[str, asyncio.Queue[_Pending]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._sizes: list[int] = []
        self._closed = False

    @property
    def stats(self) -> MicroBatchStats:
        return MicroBatchStats(sizes=tuple(self._sizes))

    async def submit(self, expert: str, request: GenerationRequest) -> Completion:
        """The completion of ``request`` by ``expert``, generated in a batch with its peers."""
        if self._closed:
            raise RouterSvcError("the micro-batcher is closed; create a new one to submit")
        engine = self._models.engine(expert)  # UnknownComponentError now, not in the worker
        if engine.independent_requests:
            return await self._send_alone(expert, request)
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._queue(expert).put_nowait(_Pending(request, future))
        return await future

    async def _send_alone(self, expert: str, request: GenerationRequest) -> Completion:
        """``request`` straight to the engine: no window, no wait behind another batch (the
        engine bounds its own concurrency)."""
        self._sizes.append(1)
        engine = await self._models.acquire(expert)
        with self._models.pinned(expert):
            (completion,) = await engine.generate([request])
        return completion

    async def close(self) -> None:
        """Stop the workers; callers still waiting get a RouterSvcError."""
        self._closed = True
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for queue in self._queues.values():
            while not queue.empty():
                _fail([queue.get_nowait()], _closed_error())
        self._workers.clear()
        self._queues.clear()

    def _queue(self, expert: str) -> asyncio.Queue[_Pending]:
        if expert not in self._queues:
            queue: asyncio.Queue[_Pending] = asyncio.Queue()
            self._queues[expert] = queue
            name = f"microbatch-{expert}"
            self._workers[expert] = asyncio.create_task(self._drain(expert, queue), name=name)
        return self._queues[expert]

    async def _drain(self, expert: str, queue: asyncio.Queue[_Pending]) -> None:
        while True:
            batch = [await queue.get()]
            try:
                await self._gather(queue, batch)
                await self._dispatch(expert, batch)
            except asyncio.CancelledError:
                _fail(batch, _closed_error())
                raise

    async def _gather(self, queue: asyncio.Queue[_Pending], batch: list[_Pending]) -> None:
        """Add requests to ``batch`` until it is full or the wait window closes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while len(batch) < self.max_batch_size:
            if not queue.empty():
                batch.append(queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                return

    async def _dispatch(self, expert: str, batch: list[_Pending]) -> None:
        live = [pending for pending in batch if not pending.future.done()]
        if not live:
            return
        self._sizes.append(len(live))
        try:
            engine = await self._models.acquire(expert)
            with self._models.pinned(expert):
                completions = await _unless_abandoned(
                    engine.generate([pending.request for pending in live]), live
                )
            if completions is None:
                return  # every caller left: the generation was stopped
            if len(completions) != len(live):
                raise engine.error(f"returned {len(completions)} completions for {len(live)}")
        except Exception as exc:
            logger.warning("batch of %d for expert %s failed: %s", len(live), expert, exc)
            _fail(live, exc)
            return
        spent = engine.context.abandoned
        for pending, completion in zip(live, completions, strict=True):
            if not pending.future.done():
                pending.future.set_result(completion)
            elif pending.future.cancelled() and spent is not None:
                spent(completion)  # its caller left while the batch ran for the others


async def _unless_abandoned(
    work: Coroutine[Any, Any, list[Completion]], batch: list[_Pending]
) -> list[Completion] | None:
    """``work``'s result, or None once every caller of ``batch`` stopped waiting (their
    futures cancelled): the work is cancelled then. A batch one caller still waits for runs."""
    task = asyncio.ensure_future(work)

    def abandoned(_future: asyncio.Future[Completion]) -> None:
        if all(pending.future.cancelled() for pending in batch):
            task.cancel()

    for pending in batch:
        pending.future.add_done_callback(abandoned)
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if task.cancelled() and not (current is not None and current.cancelling()):
            return None
        raise


def _fail(batch: list[_Pending], exc: BaseException) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(exc)


def _closed_error() -> RouterSvcError:
    return RouterSvcError("the micro-batcher was closed before this request was answered")
