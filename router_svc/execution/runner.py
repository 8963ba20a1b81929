"""Run a batch of tasks over the expert pool: one load per expert, failures kept per task.

``grouped`` mode follows :func:`~router_svc.execution.plan.plan`: each expert is acquired once
and its tasks go to the engine in chunks of ``engine.max_batch_size``. A chunk that fails is
retried one task at a time, so one bad request costs only its own result. ``naive`` mode (for
benchmarks) loads, generates and unloads for every task. Deterministic requests can be served
from a :class:`GenerationCache` without touching the model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from tqdm import tqdm

from router_svc.backends.base import Engine
from router_svc.errors import FailureKind, failure_kind
from router_svc.execution.cache import DEFAULT_CACHE_TTL_S, CacheLayer, GenerationCache
from router_svc.execution.models import ModelManager
from router_svc.execution.plan import Task, TaskKey, check_unique_keys, plan
from router_svc.types import Completion, GenerationRequest, LoadStats

__all__ = ["DEFAULT_CACHE_TTL_S", "Executor", "GenerationCache", "Mode", "TaskResult"]

logger = logging.getLogger(__name__)

Mode = Literal["grouped", "naive"]
MODES: tuple[Mode, ...] = ("grouped", "naive")


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one task: a completion, or the error that stopped it and its kind."""

    task: Task
    completion: Completion | None
    error: str | None = None
    failure: FailureKind | None = None
    """Why there is no completion (set with ``error``)."""

    @property
    def ok(self) -> bool:
        return self.completion is not None and self.error is None


ResultCallback = Callable[[TaskResult], None]


class Executor:
    """Runs tasks on the engines a :class:`ModelManager` owns and counts the work in ``stats``.

    ``cache_identity`` maps an expert name to a fingerprint of its model (e.g. a file hash); it
    is part of every cache key and is required when a ``cache`` is given. ``cache_layer`` is an
    existing layer to share (the Runtime's, which the API's direct calls use too).
    """

    def __init__(
        self,
        models: ModelManager,
        stats: LoadStats,
        *,
        cache: GenerationCache | None = None,
        cache_identity: Callable[[str], str] | None = None,
        cache_ttl_s: int = DEFAULT_CACHE_TTL_S,
        cache_layer: CacheLayer | None = None,
    ) -> None:
        self._models = models
        self._stats = stats
        self._cache = cache_layer
        if cache is not None:
            if cache_identity is None:
                raise ValueError("a generation cache needs cache_identity (expert -> model id)")
            self._cache = CacheLayer(cache, cache_identity, cache_ttl_s)

    async def run(
        self,
        tasks: Sequence[Task],
        *,
        mode: Mode = "grouped",
        on_result: ResultCallback | None = None,
        progress: bool = False,
    ) -> list[TaskResult]:
        """Run every task; the results come back in the order of ``tasks``."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        check_unique_keys(tasks)
        with tqdm(total=len(tasks), disable=not progress, unit="task", desc="execute") as bar:
            out = _Collector(bar, on_result)
            pending = await self._from_cache(tasks, out)
            if mode == "grouped":
                await self._run_grouped(pending, out)
            else:
                await self._run_naive(pending, out)
        return [out.results[task.key] for task in tasks]

    async def _from_cache(self, tasks: Sequence[Task], out: _Collector) -> list[Task]:
        """Emit the cache hits; return the tasks left to run."""
        if self._cache is None:
            return list(tasks)
        self._cache.forget_identities()
        pending: list[Task] = []
        for task in tasks:
            completion = await self._cache.lookup(task.expert, task.request, self._models)
            if completion is None:
                pending.append(task)
            else:
                out.add(TaskResult(task, completion))
        logger.info("generation cache: %d of %d tasks hit", len(tasks) - len(pending), len(tasks))
        return pending

    async def _run_grouped(self, tasks: Sequence[Task], out: _Collector) -> None:
        execution = plan(tasks, resident=self._models.resident)
        logger.info(
            "running %d tasks on %d experts (%d loads needed)",
            len(tasks),
            len(execution.groups),
            execution.loads_needed,
        )
        for expert, group in execution.groups:
            out.show(expert)
            await self._run_group(expert, group, out)

    async def _run_group(self, expert: str, tasks: Sequence[Task], out: _Collector) -> None:
        engine = await self._acquire(expert, tasks, out)
        if engine is None:
            return
        size = max(1, engine.max_batch_size)
        with self._models.pinned(expert):
            for start in range(0, len(tasks), size):
                await self._run_chunk(engine, tasks[start : start + size], out)

    async def _run_naive(self, tasks: Sequence[Task], out: _Collector) -> None:
        for task in tasks:
            out.show(task.expert)
            if task.expert in self._models.resident:
                await self._models.unload(task.expert)
            engine = await self._acquire(task.expert, [task], out)
            if engine is None:
                continue
            try:
                with self._models.pinned(task.expert):
                    await self._run_chunk(engine, [task], out)
            finally:
                await self._models.unload(task.expert)

    async def _acquire(self, expert: str, tasks: Sequence[Task], out: _Collector) -> Engine | None:
        """The loaded engine, or None after failing ``tasks`` because it would not load."""
        try:
            return await self._models.acquire(expert)
        except Exception as exc:
            logger.error("expert %s failed to load; failing %d tasks: %s", expert, len(tasks), exc)
            for task in tasks:
                out.add(_failed(task, exc))
            return None

    async def _run_chunk(self, engine: Engine, chunk: Sequence[Task], out: _Collector) -> None:
        """Generate one chunk; if it fails, retry its tasks one at a time."""
        try:
            completions = await self._generate(engine, [task.request for task in chunk])
        except Exception as exc:
            if len(chunk) == 1:
                logger.warning("task %s failed: %s", chunk[0].key, exc)
                out.add(_failed(chunk[0], exc))
                return
            logger.warning("a chunk of %d failed (%s); retrying one at a time", len(chunk), exc)
            for task in chunk:
                await self._run_chunk(engine, [task], out)
            return
        for task, completion in zip(chunk, completions, strict=True):
            if self._cache is not None:
                await self._cache.store(task.expert, task.request, engine, completion)
            out.add(TaskResult(task, completion))

    async def _generate(
        self, engine: Engine, requests: list[GenerationRequest]
    ) -> list[Completion]:
        started = time.perf_counter()
        try:
            completions = await engine.generate(requests)
        finally:
            self._stats.generate_calls += 1
            self._stats.generate_seconds += time.perf_counter() - started
        if len(completions) != len(requests):
            raise engine.error(f"returned {len(completions)} completions for {len(requests)}")
        for completion in completions:
            self._stats.prompt_tokens += completion.prompt_tokens
            self._stats.completion_tokens += completion.completion_tokens
        return completions


class _Collector:
    """Collects the results of one run, moves the progress bar and calls ``on_result``."""

    def __init__(self, bar: tqdm[None], on_result: ResultCallback | None) -> None:
        self.results: dict[TaskKey | str, TaskResult] = {}
        self._bar = bar
        self._on_result = on_result

    def add(self, result: TaskResult) -> None:
        self.results[result.task.key] = result
        self._bar.update(1)
        if self._on_result is not None:
            self._on_result(result)

    def show(self, expert: str) -> None:
        self._bar.set_postfix_str(expert)


def _failed(task: Task, exc: BaseException) -> TaskResult:
    return TaskResult(task, None, f"{type(exc).__name__}: {exc}", failure_kind(exc))
