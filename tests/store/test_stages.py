"""The cluster mode's stage streams on the real Redis: fan-out, answers kept once, the claim
heartbeat, reclaiming by another host."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from redis.asyncio import Redis

from router_svc.store import Store, open_store
from router_svc.store.redis_stages import RedisStages, StageEntry, answer_slot, stages_of
from tests.support import REDIS_URL, eventually

IDLE_MS = 200


@pytest_asyncio.fixture
async def redis_store(prefix: str, raw_redis: Redis, tmp_path: Path) -> AsyncIterator[Store]:
    store = open_store(REDIS_URL, tmp_path / "unused.sqlite3", prefix=prefix)
    yield store
    await store.close()
    keys = [key async for key in raw_redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await raw_redis.delete(*keys)


async def _routed(store: Store, experts: list[str]) -> RedisStages:
    """One question, routed to ``experts`` (a repeated one: its next sample)."""
    stages = stages_of(store.jobs)
    assert stages is not None
    await store.jobs.submit("job-1", ['{"question": {"id": "q1", "question": "2+2?"}}'], {})
    (item,) = await store.jobs.claim("router", 1, block_ms=0, min_idle_ms=IDLE_MS)
    generations = [(e, experts[:i].count(e)) for i, e in enumerate(experts)]
    assert await stages.fan_out(item, "{}", "{}", generations)
    assert not await stages.fan_out(item, "{}", "{}", generations)  # a redelivery: nothing
    return stages


async def test_the_last_answer_queues_aggregation_once(redis_store: Store) -> None:
    stages = await _routed(redis_store, ["a", "b"])
    (task_a,) = await stages.claim("w1", ["a"], 10, min_idle_ms=IDLE_MS)
    (task_b,) = await stages.claim("w2", ["b"], 10, min_idle_ms=IDLE_MS)
    assert await stages.claim("w1", ["aggregate"], 10, min_idle_ms=IDLE_MS) == []
    assert await stages.answer(task_a, "a", '{"expert": "a"}', failed=False)
    assert not await stages.answer(task_a, "a", '{"expert": "a"}', failed=False)
    assert await stages.answer(task_b, "b", '{"expert": "b"}', failed=True)
    (ready,) = await stages.claim("w3", ["aggregate"], 10, min_idle_ms=IDLE_MS)
    state = await stages.question(ready.job_id, ready.index)
    assert state is not None and set(state.answers) == {"a", "b"}
    assert await stages.finish(ready, json.dumps({"id": "q1"}), failed=False)
    assert not await stages.finish(ready, json.dumps({"id": "q1"}), failed=False)
    counts = await stages.stage_counts("job-1")
    assert counts == {
        "routed": 1,
        "queued:a": 1,
        "queued:b": 1,
        "answered:a": 1,
        "failed:b": 1,
        "duplicate:a": 1,
        "aggregated": 1,
    }
    info = await redis_store.jobs.info("job-1")
    assert (info.status, info.done, info.failed) == ("done", 1, 0)


async def test_each_sample_of_one_expert_is_its_own_answer(redis_store: Store) -> None:
    stages = await _routed(redis_store, ["a", "a", "a"])
    tasks = await stages.claim("w1", ["a"], 10, min_idle_ms=IDLE_MS)
    assert [t.sample for t in tasks] == [0, 1, 2]
    for task in tasks:
        assert await stages.claim("w1", ["aggregate"], 10, min_idle_ms=IDLE_MS) == []
        assert await stages.answer(task, "a", json.dumps({"sample": task.sample}), failed=False)
    assert not await stages.answer(tasks[1], "a", "{}", failed=False)  # a redelivered sample
    (ready,) = await stages.claim("w2", ["aggregate"], 10, min_idle_ms=IDLE_MS)
    state = await stages.question(ready.job_id, ready.index)
    assert state is not None
    assert state.answers == {answer_slot("a", n): json.dumps({"sample": n}) for n in range(3)}
    counts = await stages.stage_counts("job-1")
    assert (counts["queued:a"], counts["answered:a"], counts["duplicate:a"]) == (3, 3, 1)


async def _idle_ms(stages: RedisStages, raw_redis: Redis, entry: StageEntry) -> int:
    """How long ago ``entry`` was last claimed or extended, as Redis counts it."""
    key, group = stages._key_group(entry.stream)
    (row,) = await raw_redis.xpending_range(key, group, entry.entry_id, entry.entry_id, 1)
    return int(row["time_since_delivered"])


async def test_the_heartbeat_keeps_a_claim_and_a_silent_one_is_reclaimed(
    redis_store: Store, raw_redis: Redis
) -> None:
    idle = 1000  # min_idle_ms of this test: the room between the heartbeat and w2's claim
    stages = await _routed(redis_store, ["a"])
    (task,) = await stages.claim("w1", ["a"], 10, min_idle_ms=idle)

    async def reclaimable() -> bool:
        return await _idle_ms(stages, raw_redis, task) >= idle

    await eventually(reclaimable, what="w1's claim to be idle for min_idle_ms")
    await stages.extend("w1", [task])
    assert await _idle_ms(stages, raw_redis, task) < idle  # the heartbeat reset it
    assert await stages.claim("w2", ["a"], 10, min_idle_ms=idle) == []
    (taken,) = await eventually(
        lambda: stages.claim("w2", ["a"], 10, min_idle_ms=idle), what="the silent claim reclaimed"
    )
    assert (taken.entry_id, taken.deliveries) == (task.entry_id, 2)  # the heartbeat is no delivery
    assert await stages.backlog(["a", "b"]) == {"a": 1, "b": 0}


async def test_deleting_a_job_removes_its_stage_state_and_late_answers_are_dropped(
    redis_store: Store, raw_redis: Redis, prefix: str
) -> None:
    """q0 has both answers in and its aggregation claimed; q1's task for "a" is claimed, its
    task for "b" still queued. Deleting the job leaves nothing of it, and the answer and the
    aggregation that finish afterwards write nothing back."""
    stages = stages_of(redis_store.jobs)
    assert stages is not None
    question = '{"question": {"id": "q", "question": "2+2?"}}'
    await redis_store.jobs.submit("job-1", [question, question], {})
    await redis_store.jobs.submit("job-2", [question], {})
    for item in await redis_store.jobs.claim("router", 10, block_ms=0, min_idle_ms=IDLE_MS):
        assert await stages.fan_out(item, "{}", "{}", [("a", 0), ("b", 0)])
    a0, a1, a2 = await stages.claim("w1", ["a"], 10, min_idle_ms=IDLE_MS)
    (b0,) = await stages.claim("w2", ["b"], 1, min_idle_ms=IDLE_MS)
    assert [(t.job_id, t.index) for t in (a0, a1, a2, b0)] == [
        ("job-1", 0),
        ("job-1", 1),
        ("job-2", 0),
        ("job-1", 0),
    ]
    assert await stages.answer(a0, "a", '{"expert": "a"}', failed=False)
    assert await stages.answer(b0, "b", '{"expert": "b"}', failed=False)
    (ready,) = await stages.claim("w3", ["aggregate"], 10, min_idle_ms=IDLE_MS)

    deleted = await redis_store.jobs.delete("job-1")

    assert (deleted.status, deleted.total) == ("cancelled", 2)
    assert [key async for key in raw_redis.scan_iter(match=f"{prefix}:job:job-1*")] == []
    assert await stages.backlog(["a", "b"]) == {"a": 1, "b": 1}  # job-2's tasks only
    assert await raw_redis.xlen(stages.aggregate_stream) == 0
    assert await raw_redis.xpending(stages.stream("a"), "experts") == {
        "pending": 1,
        "min": a2.entry_id,
        "max": a2.entry_id,
        "consumers": [{"name": "w1", "pending": 1}],
    }
    assert not await stages.answer(a1, "a", '{"expert": "a"}', failed=False)
    assert not await stages.finish(ready, json.dumps({"id": "q"}), failed=False)
    assert await stages.question("job-1", 1) is None
    assert await stages.stage_counts("job-1") == {}
    assert [key async for key in raw_redis.scan_iter(match=f"{prefix}:job:job-1*")] == []
    assert (await redis_store.jobs.info("job-2")).status == "running"
    again = await stages.claim("w4", ["a", "b", "aggregate"], 10, min_idle_ms=0)
    assert sorted((e.stream, e.job_id, e.deliveries) for e in again) == [
        ("a", "job-2", 2),  # w1's claim, taken over: none of job-1's
        ("b", "job-2", 1),
    ]
