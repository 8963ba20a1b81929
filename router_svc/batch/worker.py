"""The batch worker: claim queued questions, answer them grouped by expert, record each once.

One round: ``JobQueue.claim`` hands out up to ``batch_size`` items (it first reclaims entries
that a dead worker left pending for longer than ``min_idle_ms``); the items are grouped by
(suite, routing options); each group goes through ``Pipeline.answer`` as one batch, so the
executor loads each expert once per group; then every item is completed with its result.
The store records a result at most once (``complete`` returns False for a duplicate), so a
redelivered item that was already answered costs only its (cached) generation.

An item payload is a ``payload.BatchPayload``. A result is ``QuestionResult.to_json()`` plus
``"batch": {"index", "worker", "deliveries"}``; an item that cannot be answered (broken
payload, unknown suite or tagger) completes as failed with
``{"id", "error": {"message", "type"}, "batch"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from router_svc.batch.payload import BatchOptions, BatchPayload
from router_svc.errors import RouterSvcError, StoreError
from router_svc.pipeline import Pipeline
from router_svc.store import JobQueue, WorkItem

logger = logging.getLogger(__name__)

_STORE_RETRY_S = (0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker claims: see ``router-svc worker --help``."""

    consumer: str
    default_suite: str = "starter"
    batch_size: int = 16
    block_ms: int = 1000
    min_idle_ms: int = 30_000
    once: bool = False
    max_idle_s: float | None = None
    max_deliveries: int = 5

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_deliveries < 1:
            raise ValueError("batch_size and max_deliveries must be >= 1")
        if self.block_ms < 0 or self.min_idle_ms < 0:
            raise ValueError("block_ms and min_idle_ms must be >= 0")


@dataclass
class WorkerStats:
    """What this worker did; ``duplicates`` counts completes the store refused."""

    rounds: int = 0
    claimed: int = 0
    answered: int = 0
    failed: int = 0
    duplicates: int = 0
    redelivered: int = 0

    def describe(self) -> str:
        return (
            f"{self.rounds} rounds, {self.claimed} items claimed ({self.redelivered} redelivered),"
            f" {self.answered} answered, {self.failed} failed, {self.duplicates} duplicates"
        )


PipelineFactory = Callable[[str], Pipeline]
_Key = tuple[str, BatchOptions]
_Group = list[tuple[WorkItem, BatchPayload]]
_Rejected = tuple[WorkItem, str | None, str, str]
"""An item failed unrun: the item, its question id, the message, the error type."""


def default_consumer() -> str:
    """hostname-pid: unique per live process, so XAUTOCLAIM can tell dead workers apart."""
    return f"{socket.gethostname()}-{os.getpid()}"


class BatchWorker:
    """Claims items from ``jobs`` and answers them with the pipeline of each item's suite."""

    def __init__(self, jobs: JobQueue, pipelines: PipelineFactory, options: WorkerOptions) -> None:
        self.jobs = jobs
        self.options = options
        self.stats = WorkerStats()
        self._make_pipeline = pipelines
        self._pipelines: dict[str, Pipeline] = {}
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the current round, then return from ``run``."""
        if not self._stopping.is_set():
            logger.info("worker %s: stopping after the current round", self.options.consumer)
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> WorkerStats:
        """Run rounds until stopped (or, with once/max_idle_s, until there is nothing to do)."""
        idle_since = time.monotonic()
        failures = 0
        while not self.stopping:
            try:
                claimed = await self.run_round()
                failures = 0
            except StoreError as exc:
                delay = _STORE_RETRY_S[min(failures, len(_STORE_RETRY_S) - 1)]
                failures += 1
                logger.warning(
                    "worker %s: %s; retrying in %.1f s", self.options.consumer, exc, delay
                )
                await self._sleep(delay)
                continue
            if claimed:
                idle_since = time.monotonic()
            elif await self._done_waiting(idle_since):
                break
        return self.stats

    async def run_round(self) -> int:
        """Claim one round of items, answer them, complete them; returns how many were claimed."""
        opts = self.options
        items = await self.jobs.claim(
            opts.consumer, opts.batch_size, block_ms=opts.block_ms, min_idle_ms=opts.min_idle_ms
        )
        if not items:
            return 0
        items = _distinct(items)
        self.stats.rounds += 1
        self.stats.claimed += len(items)
        logger.info("worker %s: claimed %d items", opts.consumer, len(items))
        started = time.monotonic()
        await self._process(items)
        self._check_round_time(time.monotonic() - started)
        return len(items)

    async def _process(self, items: Sequence[WorkItem]) -> None:
        groups, rejected = self._sort(items)
        for item, question_id, message, kind in rejected:
            logger.warning("job %s item %d: %s", item.job_id, item.index, message)
            await self._complete(item, error_record(question_id, message, kind), failed=True)
        for (suite, options), group in groups.items():
            for batch in _unique_ids(group):
                await self._answer_group(suite, options, batch)

    def _check_round_time(self, seconds: float) -> None:
        """Warn when a round outlasts min_idle_ms: other workers may have reclaimed its items."""
        limit_s = self.options.min_idle_ms / 1000
        if seconds > limit_s:
            logger.warning(
                "worker %s: a round took %.1f s, longer than --min-idle-ms (%.1f s), so other "
                "workers may have claimed its items again; raise --min-idle-ms or lower "
                "--batch-size",
                self.options.consumer,
                seconds,
                limit_s,
            )

    def _sort(self, items: Sequence[WorkItem]) -> tuple[dict[_Key, _Group], list[_Rejected]]:
        """Runnable items grouped by (suite, options), and the items to fail unrun."""
        groups: dict[_Key, _Group] = {}
        rejected: list[_Rejected] = []
        for item in items:
            if item.deliveries > 1:
                self.stats.redelivered += 1
                logger.info("job %s item %d: delivery %d", item.job_id, item.index, item.deliveries)
            payload = self._decode(item)
            if isinstance(payload, BatchPayload):
                key = (payload.suite or self.options.default_suite, payload.options)
                groups.setdefault(key, []).append((item, payload))
            else:
                rejected.append(payload)
        return groups, rejected

    def _decode(self, item: WorkItem) -> BatchPayload | _Rejected:
        """The item's payload, or why it is failed without running."""
        try:
            payload = BatchPayload.model_validate_json(item.payload)
        except ValidationError as exc:
            message = f"invalid batch payload: {_first_error(exc)}"
            return item, _qid(item.payload), message, "invalid_payload"
        if item.deliveries > self.options.max_deliveries:
            message = (
                f"gave up after {item.deliveries} deliveries: every worker that claimed it "
                "stopped before completing it"
            )
            return item, payload.question.id, message, "too_many_deliveries"
        return payload

    async def _answer_group(self, suite: str, options: BatchOptions, group: _Group) -> None:
        questions = [payload.question.to_question() for _, payload in group]
        jobs = sorted({item.job_id for item, _ in group})
        logger.info("jobs %s: answering %d questions of suite %s", jobs, len(group), suite)
        try:
            pipeline = self._pipeline(suite)
            results = await pipeline.answer(questions, pipeline.options(options))
        except StoreError:
            raise  # transient: the items stay pending and are claimed again
        except RouterSvcError as exc:
            logger.warning("jobs %s: %d questions failed: %s", jobs, len(group), exc)
            await self._fail_all(group, str(exc), type(exc).__name__)
            return
        except Exception as exc:
            logger.exception("jobs %s: unexpected error answering %d questions", jobs, len(group))
            await self._fail_all(group, f"internal error: {exc}", "internal_error")
            return
        for (item, _), result in zip(group, results, strict=True):
            await self._complete(item, result.to_json(), failed=False)

    def _pipeline(self, suite: str) -> Pipeline:
        if suite not in self._pipelines:
            self._pipelines[suite] = self._make_pipeline(suite)
        return self._pipelines[suite]

    async def _fail_all(self, group: _Group, message: str, kind: str) -> None:
        for item, payload in group:
            await self._complete(
                item, error_record(payload.question.id, message, kind), failed=True
            )

    async def _complete(self, item: WorkItem, record: dict[str, Any], *, failed: bool) -> None:
        record["batch"] = {
            "index": item.index,
            "worker": self.options.consumer,
            "deliveries": item.deliveries,
        }
        recorded = await self.jobs.complete(item, json.dumps(record), failed=failed)
        if not recorded:
            self.stats.duplicates += 1
            logger.info(
                "job %s item %d: not recorded (already answered, or the job is gone)",
                item.job_id,
                item.index,
            )
        elif failed:
            self.stats.failed += 1
        else:
            self.stats.answered += 1

    async def _done_waiting(self, idle_since: float) -> bool:
        """After an empty claim: True if ``once`` found the queue empty or max_idle_s passed."""
        opts = self.options
        if opts.once and await self.jobs.depth() == 0:
            logger.info("worker %s: the queue is empty; exiting (--once)", opts.consumer)
            return True
        if opts.max_idle_s is not None and time.monotonic() - idle_since >= opts.max_idle_s:
            logger.info("worker %s: idle for %.1f s; exiting", opts.consumer, opts.max_idle_s)
            return True
        return False

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up early when stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


def _distinct(items: Sequence[WorkItem]) -> list[WorkItem]:
    """The items without repeats of one entry (a claim must not hand one out twice)."""
    unique = {item.entry_id: item for item in items}
    if len(unique) < len(items):
        logger.warning("the store handed out %d entries twice", len(items) - len(unique))
    return list(unique.values())


def _unique_ids(group: _Group) -> list[_Group]:
    """Split a group so no batch holds one question id twice (ids are unique per job only)."""
    batches: list[_Group] = []
    for entry in group:
        qid = entry[1].question.id
        batch = next((b for b in batches if all(p.question.id != qid for _, p in b)), None)
        if batch is None:
            batches.append([entry])
        else:
            batch.append(entry)
    return batches


def error_record(question_id: str | None, message: str, kind: str) -> dict[str, Any]:
    """The result of an item that could not be answered."""
    return {"id": question_id, "error": {"message": message, "type": kind}}


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "(payload)"
    return f"{where}: {error['msg']}"


def _qid(payload: str) -> str | None:
    """The question id of a broken payload, when it can still be read."""
    try:
        question = json.loads(payload).get("question", {})
        qid = question.get("id") if isinstance(question, dict) else None
    except (ValueError, AttributeError):
        return None
    return str(qid) if qid is not None else None
