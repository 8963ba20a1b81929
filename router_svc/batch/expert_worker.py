"""The expert-affine worker: the cluster mode's stages on Redis Streams.

Each round a worker routes new questions (``route``), answers the tasks of the experts it
hosts, one batch per expert (the model loads once and stays resident while it has work), and
settles questions whose answers are all in (``aggregate``). It claims only tasks of experts
it hosts, so with E experts and W workers each expert is loaded by its hosts, not by every
worker. A dead worker's pending tasks are reclaimed (XAUTOCLAIM after ``min_idle_ms``) by
another host of the same expert; while a batch runs, a heartbeat resets its entries' idle
time so a long generation is not duplicated. Stream and key layout: ``store.redis_stages``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from router_svc.batch.placement import choose_experts, host_counts
from router_svc.batch.stage_runs import PipelineFor, aggregate_entries, answer_entries, route_items
from router_svc.errors import StoreError
from router_svc.execution.runner import Executor
from router_svc.pipeline import Pipeline
from router_svc.store import JobQueue
from router_svc.store.redis_stages import RedisStages, StageEntry, WorkerInfo
from router_svc.types import LoadStats

logger = logging.getLogger(__name__)

_STORE_RETRY_S = (0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class ClusterOptions:
    """How an expert-affine worker works: see ``router-svc worker --help``."""

    consumer: str
    experts: tuple[str, ...] = ()
    """The experts hosted; empty: chosen from the backlog (``slots`` of them)."""
    route: bool = True
    aggregate: bool = True
    slots: int = 2
    default_suite: str = "starter"
    batch_size: int = 64
    poll_s: float = 0.2
    min_idle_ms: int = 30_000
    heartbeat_s: float = 5.0
    max_deliveries: int = 5
    max_idle_s: float | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.slots < 1 or self.max_deliveries < 1:
            raise ValueError("batch_size, slots and max_deliveries must be >= 1")
        if self.heartbeat_s <= 0 or self.heartbeat_s * 1000 >= self.min_idle_ms:
            raise ValueError("heartbeat_s must be > 0 and shorter than min_idle_ms")


@dataclass
class ClusterStats:
    """What this worker did; per hosted expert, answers kept and duplicates dropped."""

    routed: int = 0
    answered: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    aggregated: int = 0

    def describe(self) -> str:
        per = ", ".join(f"{e} {n}" for e, n in sorted(self.answered.items())) or "none"
        return (
            f"{self.routed} routed, answers per expert: {per}; {self.aggregated} aggregated,"
            f" {self.duplicates} duplicates dropped"
        )


class ExpertWorker:
    """Runs the stages this worker hosts until stopped (or idle, with once/max_idle_s)."""

    def __init__(
        self,
        jobs: JobQueue,
        stages: RedisStages,
        pipelines: PipelineFor,
        executor: Executor,
        loads: LoadStats,
        pool_experts: Sequence[str],
        options: ClusterOptions,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.jobs = jobs
        self._progress = progress
        self.stages = stages
        self.executor = executor
        self.loads = loads
        self.options = options
        self.stats = ClusterStats()
        self.hosted: list[str] = list(options.experts)
        self._pool_experts = list(pool_experts)
        self._make_pipeline = pipelines
        self._pipelines: dict[str, Pipeline] = {}
        self._stopping = asyncio.Event()
        self._registered = 0.0

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> ClusterStats:
        idle_since = time.monotonic()
        failures = 0
        try:
            while not self.stopping:
                try:
                    worked = await self.run_round()
                    failures = 0
                except StoreError as exc:
                    delay = _STORE_RETRY_S[min(failures, len(_STORE_RETRY_S) - 1)]
                    failures += 1
                    logger.warning("worker %s: %s; retrying in %.1f s", self.name, exc, delay)
                    await self._sleep(delay)
                    continue
                if worked:
                    idle_since = time.monotonic()
                elif self._idle_done(idle_since):
                    break
                else:
                    await self._sleep(self.options.poll_s)
        finally:
            with contextlib.suppress(StoreError):
                await self.stages.unregister(self.name)
        return self.stats

    @property
    def name(self) -> str:
        return self.options.consumer

    async def run_round(self) -> int:
        """One pass over the hosted stages; returns how many entries it handled."""
        await self._heartbeat(force=not self._registered)
        worked = 0
        if self.options.route:
            worked += await self._route_round()
        await self._place()
        worked += await self._expert_round()
        if self.options.aggregate:
            worked += await self._aggregate_round()
        return worked

    async def _route_round(self) -> int:
        opts = self.options
        items = await self.jobs.claim(
            opts.consumer, opts.batch_size, block_ms=0, min_idle_ms=opts.min_idle_ms
        )
        if items:
            async with self._claim_heartbeat(()):  # no stage entries yet: stay registered
                self.stats.routed += await route_items(
                    items,
                    self.jobs,
                    self.stages,
                    self._pipeline,
                    opts.default_suite,
                    opts.max_deliveries,
                )
        return len(items)

    async def _place(self) -> None:
        """With auto placement, re-choose the hosted experts from the backlog."""
        if self.options.experts:
            return
        backlog = await self.stages.backlog(self._pool_experts)
        hosts = host_counts(await self.stages.workers(), exclude=self.name)
        chosen = choose_experts(backlog, hosts, self.hosted, self.options.slots)
        if chosen and chosen != self.hosted:
            logger.info("worker %s: now hosting %s", self.name, ", ".join(chosen))
            self.hosted = chosen
            await self._heartbeat(force=True)

    async def _expert_round(self) -> int:
        opts = self.options
        entries = await self.stages.claim(
            self.name, self.hosted, opts.batch_size, min_idle_ms=opts.min_idle_ms
        )
        by_expert: dict[str, list[StageEntry]] = {}
        for entry in entries:
            by_expert.setdefault(entry.stream, []).append(entry)
        for expert, group in by_expert.items():
            async with self._claim_heartbeat(group):
                kept, dropped = await answer_entries(
                    expert, group, self.stages, self.executor, self.name, opts.max_deliveries
                )
            self.stats.answered[expert] = self.stats.answered.get(expert, 0) + kept
            self.stats.duplicates += dropped
            self._report(expert, kept)
        return len(entries)

    def _report(self, expert: str, kept: int) -> None:
        """The progress line of one hosted expert: logged, and shown by ``router-svc worker``."""
        total = self.stats.answered[expert]
        loads = self.loads.loads_by_expert.get(expert, 0)
        line = f"worker {self.name}: expert {expert} answered {kept} (total {total}, loads {loads})"
        logger.info(line)
        if self._progress is not None:
            self._progress(line)

    async def _aggregate_round(self) -> int:
        opts = self.options
        entries = await self.stages.claim(
            self.name, ["aggregate"], opts.batch_size, min_idle_ms=opts.min_idle_ms
        )
        if entries:
            async with self._claim_heartbeat(entries):
                done, dropped = await aggregate_entries(
                    entries, self.stages, self._pipeline, self.name, opts.max_deliveries
                )
            self.stats.aggregated += done
            self.stats.duplicates += dropped
        return len(entries)

    @contextlib.asynccontextmanager
    async def _claim_heartbeat(self, entries: Sequence[StageEntry]) -> AsyncIterator[None]:
        """Extend the claim on ``entries`` and renew this worker's registration every
        ``heartbeat_s`` while the block runs, so a long round neither loses its entries nor
        shows its experts as unhosted. The beat is stopped between Redis calls, never cancelled
        inside one (a redis-py call cancelled mid-reply can leave its connection hanging)."""
        done = asyncio.Event()

        async def beat() -> None:
            while not await _wait(done, self.options.heartbeat_s):
                with contextlib.suppress(StoreError):
                    if entries:
                        await self.stages.extend(self.name, entries)
                    await self._heartbeat(force=True)

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            done.set()
            await task

    async def _heartbeat(self, *, force: bool = False) -> None:
        """Register as live (every heartbeat_s, or now)."""
        now = time.time()
        if not force and now - self._registered < self.options.heartbeat_s:
            return
        info = WorkerInfo(
            consumer=self.name,
            experts=list(self.hosted),
            auto=not self.options.experts,
            aggregate=self.options.aggregate,
            route=self.options.route,
            seen=now,
            loads=dict(self.loads.loads_by_expert),
        )
        await self.stages.register(info, ttl_s=max(3, int(self.options.heartbeat_s * 3)))
        self._registered = now

    def _pipeline(self, suite: str) -> Pipeline:
        suite = suite or self.options.default_suite
        if suite not in self._pipelines:
            self._pipelines[suite] = self._make_pipeline(suite)
        return self._pipelines[suite]

    def _idle_done(self, idle_since: float) -> bool:
        opts = self.options
        if opts.max_idle_s is not None and time.monotonic() - idle_since >= opts.max_idle_s:
            logger.info("worker %s: idle for %.1f s; exiting", self.name, opts.max_idle_s)
            return True
        return False

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """True once ``event`` is set; False when ``seconds`` pass first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)
    return event.is_set()
