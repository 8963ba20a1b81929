"""The batch worker over a recorded pool (replay engine, no model): it answers two groups of a
batch (different routing options), each expert loaded once, and records results that match
the pipeline's; answers it finishes after their batch was deleted are dropped (both stores)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis

from router_svc.assembly import build_pipeline
from router_svc.batch.payload import BatchOptions, BatchPayload, BatchQuestion
from router_svc.batch.worker import BatchWorker, WorkerOptions
from router_svc.errors import JobNotFoundError
from router_svc.store import JobInfo, JobQueue, WorkItem, open_store
from tests.support import REDIS_URL, REPLAY_AGGREGATOR, ReplaySuite


async def test_the_worker_answers_grouped_one_load_per_expert(replay_suite: ReplaySuite) -> None:
    asked = replay_suite.questions()[50:58]
    ks = [1 if i % 2 else 2 for i in range(len(asked))]
    payloads = [
        BatchPayload(
            suite=replay_suite.suite,
            question=BatchQuestion(id=q.id, question=q.question, gold_answer=q.gold_answer),
            options=BatchOptions(k=k),
        ).to_json()
        for q, k in zip(asked, ks, strict=True)
    ]
    batch_id = f"batch_{uuid.uuid4().hex}"
    runtime = replay_suite.runtime()
    try:
        job = await runtime.store.jobs.submit(batch_id, payloads, {"suite": replay_suite.suite})
        assert job.total == len(asked)
        pipeline = build_pipeline(runtime, replay_suite.suite)
        options = WorkerOptions(consumer="grouped", default_suite="unused", block_ms=0, once=True)
        stats = await BatchWorker(runtime.store.jobs, lambda _: pipeline, options).run()
        loads = dict(runtime.stats.loads_by_expert)
        info = await runtime.store.jobs.info(batch_id)
        records = [json.loads(v) for _, v in await runtime.store.jobs.results(batch_id)]
        expected = [
            (await pipeline.answer([q], pipeline.options(k=k)))[0]
            for q, k in zip(asked, ks, strict=True)
        ]
    finally:
        await runtime.close()

    assert (stats.answered, stats.failed) == (len(asked), 0)
    assert (info.done, info.failed) == (len(asked), 0)
    chosen = {e for want in expected for e in want.assignment.chosen}
    aggregated = any(want.aggregate.method == "aggregator" for want in expected)
    assert loads == dict.fromkeys(chosen | ({REPLAY_AGGREGATOR} if aggregated else set()), 1)
    assert [r["id"] for r in records] == [q.id for q in asked]
    for record, want, k in zip(records, expected, ks, strict=True):
        assert len(record["routing"]["chosen"]) == k
        assert record["routing"]["chosen"] == list(want.assignment.chosen)
        assert record["final"]["text"] == want.aggregate.text
        assert record["batch"]["worker"] == "grouped"


class DeletingOnClaim:
    """A real job queue whose ``claim`` deletes the job of the items it hands out: the worker
    then answers, and completes, items of a job that no longer exists."""

    def __init__(self, jobs: JobQueue) -> None:
        self.jobs = jobs
        self.deleted: list[JobInfo] = []

    async def claim(
        self, consumer: str, count: int, *, block_ms: int, min_idle_ms: int
    ) -> list[WorkItem]:
        items = await self.jobs.claim(consumer, count, block_ms=block_ms, min_idle_ms=min_idle_ms)
        for job_id in sorted({item.job_id for item in items}):
            self.deleted.append(await self.jobs.delete(job_id))
        return items

    async def complete(self, item: WorkItem, result: str, *, failed: bool) -> bool:
        return await self.jobs.complete(item, result, failed=failed)

    async def depth(self) -> int:
        return await self.jobs.depth()


@pytest.mark.parametrize("backend", ["redis", "sqlite"])
async def test_answers_finished_after_the_job_was_deleted_are_dropped(
    replay_suite: ReplaySuite, backend: str, tmp_path: Path, raw_redis: Redis
) -> None:
    asked = replay_suite.questions()[:4]
    payloads = [
        BatchPayload(
            suite=replay_suite.suite, question=BatchQuestion(id=q.id, question=q.question)
        ).to_json()
        for q in asked
    ]
    prefix = f"router-svc-test:deleted:{uuid.uuid4().hex[:12]}:v1"
    url = REDIS_URL if backend == "redis" else None
    store = open_store(url, tmp_path / "jobs.sqlite3", prefix=prefix)
    runtime = replay_suite.runtime()
    try:
        await store.jobs.submit("batch_gone", payloads, {})
        pipeline = build_pipeline(runtime, replay_suite.suite)
        queue = DeletingOnClaim(store.jobs)
        options = WorkerOptions(consumer="late", default_suite="unused", block_ms=0, once=True)
        stats = await BatchWorker(queue, lambda _: pipeline, options).run()
        with pytest.raises(JobNotFoundError):
            await store.jobs.info("batch_gone")
        with pytest.raises(JobNotFoundError):
            await store.jobs.results("batch_gone")
        depth = await store.jobs.depth()
        left = [key async for key in raw_redis.scan_iter(match=f"{prefix}:*")]
    finally:
        await runtime.close()
        await store.close()
        keys = [key async for key in raw_redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await raw_redis.delete(*keys)

    assert [(job.status, job.total) for job in queue.deleted] == [("cancelled", 4)]
    assert (stats.claimed, stats.answered, stats.failed) == (4, 0, 0)
    assert stats.duplicates == 4  # answered, then dropped: the job is gone
    assert depth == 0
    assert left in ([], [f"{prefix}:jobs:stream"])  # the (empty) stream keeps its TTL
