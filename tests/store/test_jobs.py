"""The batch job queue, on the real Redis at 127.0.0.1:6379 and on a SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from router_svc.errors import JobNotFoundError, StoreError
from router_svc.store import Store, WorkItem, open_store
from router_svc.store.redis import GROUP, RedisJobQueue
from tests.support import REDIS_URL, eventually

pytestmark = pytest.mark.asyncio


async def claim(
    store: Store, consumer: str, count: int = 10, idle_ms: int = 60_000
) -> list[WorkItem]:
    return await store.jobs.claim(consumer, count, block_ms=0, min_idle_ms=idle_ms)


async def run_all(store: Store, items: list[WorkItem]) -> None:
    for item in items:
        assert await store.jobs.complete(item, f"out-{item.index}", failed=False)


async def test_submit_creates_a_queued_job(store: Store) -> None:
    before = time.time()
    job = await store.jobs.submit("job-1", ['{"p": 0}', '{"p": 1}'], {"suite": "math"})
    assert job == await store.jobs.info("job-1")
    assert (job.id, job.status, job.total, job.done, job.failed) == ("job-1", "queued", 2, 0, 0)
    assert before <= job.created_at <= time.time()
    assert job.finished_at is None
    assert job.meta == {"suite": "math"}


async def test_claim_hands_out_each_payload_once_in_order(store: Store) -> None:
    await store.jobs.submit("job-1", ['{"p": 0}', '{"p": 1}', '{"p": 2}'], {})
    first = await claim(store, "w1", count=2)
    rest = await claim(store, "w2", count=2)
    assert [(i.job_id, i.index, i.payload) for i in first + rest] == [
        ("job-1", 0, '{"p": 0}'),
        ("job-1", 1, '{"p": 1}'),
        ("job-1", 2, '{"p": 2}'),
    ]
    assert [i.deliveries for i in first + rest] == [1, 1, 1]
    assert len({i.entry_id for i in first + rest}) == 3
    assert (await store.jobs.info("job-1")).status == "running"
    assert await claim(store, "w3") == []


async def test_completing_every_item_finishes_the_job(store: Store) -> None:
    await store.jobs.submit("job-1", ["a", "b", "c"], {})
    items = await claim(store, "w1")
    assert await store.jobs.complete(items[2], "out-2", failed=False)
    assert await store.jobs.complete(items[0], "err-0", failed=True)
    assert (await store.jobs.info("job-1")).status == "running"
    assert await store.jobs.complete(items[1], "out-1", failed=False)
    job = await store.jobs.info("job-1")
    assert (job.status, job.done, job.failed) == ("done", 2, 1)
    assert job.finished_at is not None and job.finished_at >= job.created_at
    assert await store.jobs.results("job-1") == [(0, "err-0"), (1, "out-1"), (2, "out-2")]


async def test_a_duplicate_completion_returns_false_and_counts_once(store: Store) -> None:
    await store.jobs.submit("job-1", ["a", "b"], {})
    items = await claim(store, "w1")
    assert await store.jobs.complete(items[0], "first", failed=False) is True
    assert await store.jobs.complete(items[0], "second", failed=True) is False
    job = await store.jobs.info("job-1")
    assert (job.status, job.done, job.failed) == ("running", 1, 0)
    assert await store.jobs.results("job-1") == [(0, "first")]


async def test_items_of_a_dead_consumer_are_reclaimed_after_min_idle(
    make_store: Callable[[], Store],
) -> None:
    dead, alive = make_store(), make_store()
    await alive.jobs.submit("job-1", ["a", "b", "c", "d"], {})
    lost = await claim(dead, "dead", count=2, idle_ms=200)
    assert [i.index for i in lost] == [0, 1]
    fresh = await claim(alive, "alive", count=10, idle_ms=200)
    assert [i.index for i in fresh] == [2, 3]  # the dead consumer's items are not idle yet
    await run_all(alive, fresh)
    reclaimed = await eventually(
        lambda: claim(alive, "alive", count=10, idle_ms=200), what="the idle items to be claimable"
    )
    assert [(i.index, i.deliveries) for i in reclaimed] == [(0, 2), (1, 2)]
    assert [i.entry_id for i in reclaimed] == [i.entry_id for i in lost]
    await run_all(alive, reclaimed)
    assert await dead.jobs.complete(lost[0], "late", failed=False) is False
    job = await alive.jobs.info("job-1")
    assert (job.status, job.done, job.failed) == ("done", 4, 0)
    assert await alive.jobs.results("job-1") == [(i, f"out-{i}") for i in range(4)]
    assert await alive.jobs.depth() == 0


async def test_cancel_skips_the_pending_items(store: Store) -> None:
    await store.jobs.submit("doomed", ["a", "b", "c"], {})
    in_flight = await claim(store, "w1", count=1)
    job = await store.jobs.cancel("doomed")
    assert (job.status, job.total) == ("cancelled", 3)
    assert job.finished_at is not None
    await store.jobs.submit("kept", ["x", "y"], {})
    items = await claim(store, "w1", count=10)
    assert [(i.job_id, i.index) for i in items] == [("kept", 0), ("kept", 1)]
    assert await store.jobs.complete(in_flight[0], "out-0", failed=False) is True
    job = await store.jobs.info("doomed")
    assert (job.status, job.done) == ("cancelled", 1)
    assert await store.jobs.results("doomed") == [(0, "out-0")]
    assert await store.jobs.depth() == 2


async def test_cancel_leaves_a_finished_job_done(store: Store) -> None:
    await store.jobs.submit("job-1", ["a"], {})
    await run_all(store, await claim(store, "w1"))
    finished = await store.jobs.info("job-1")
    assert await store.jobs.cancel("job-1") == finished
    assert finished.status == "done"


async def leftovers(
    store: Store, job_id: str, raw_redis: Redis, prefix: str, db: Path
) -> list[str]:
    """What the backend still holds of ``job_id``: Redis keys and stream entries, or SQLite
    rows, read around the store."""
    if isinstance(store.jobs, RedisJobQueue):
        keys = [key async for key in raw_redis.scan_iter(match=f"{prefix}:job:{job_id}*")]
        rows = await raw_redis.xrange(f"{prefix}:jobs:stream")
        return keys + [entry_id for entry_id, fields in rows if fields["job"] == job_id]
    with contextlib.closing(sqlite3.connect(db)) as conn:
        tables = (("jobs", "id"), ("items", "job_id"), ("results", "job_id"))
        return [
            f"{table} row"
            for table, column in tables
            for _ in conn.execute(f"SELECT 1 FROM {table} WHERE {column} = ?", (job_id,))
        ]


async def test_delete_cancels_then_removes_the_job_its_items_and_results(
    store: Store, raw_redis: Redis, prefix: str, tmp_path: Path
) -> None:
    await store.jobs.submit("doomed", ["a", "b", "c", "d"], {"suite": "math"})
    await store.jobs.submit("kept", ["x"], {})
    answered, _in_flight = await claim(store, "w1", count=2)  # the second stays claimed
    assert await store.jobs.complete(answered, "out-0", failed=False)
    assert await leftovers(store, "doomed", raw_redis, prefix, tmp_path / "store.db")

    job = await store.jobs.delete("doomed")

    assert (job.id, job.status, job.total, job.done, job.meta) == (
        "doomed",
        "cancelled",
        4,
        1,
        {"suite": "math"},
    )
    assert job.finished_at is not None
    assert await leftovers(store, "doomed", raw_redis, prefix, tmp_path / "store.db") == []
    for call in (store.jobs.info, store.jobs.results, store.jobs.cancel, store.jobs.delete):
        with pytest.raises(JobNotFoundError, match="no job 'doomed'"):
            await call("doomed")
    assert await store.jobs.depth() == 1  # the other job's entry
    assert [(i.job_id, i.index) for i in await claim(store, "w2")] == [("kept", 0)]


async def test_an_item_of_a_deleted_job_finished_later_is_dropped(
    store: Store, raw_redis: Redis, prefix: str, tmp_path: Path
) -> None:
    await store.jobs.submit("doomed", ["a", "b"], {})
    items = await claim(store, "w1")
    await store.jobs.delete("doomed")

    assert await store.jobs.complete(items[0], "late", failed=False) is False
    assert await store.jobs.complete(items[1], "late", failed=True) is False
    with pytest.raises(JobNotFoundError):
        await store.jobs.info("doomed")
    assert await leftovers(store, "doomed", raw_redis, prefix, tmp_path / "store.db") == []
    assert await store.jobs.depth() == 0
    assert await claim(store, "w2", idle_ms=0) == []


async def test_delete_keeps_a_finished_jobs_last_state(store: Store) -> None:
    await store.jobs.submit("job-1", ["a", "b"], {})
    await run_all(store, await claim(store, "w1"))
    finished = await store.jobs.info("job-1")
    assert await store.jobs.delete("job-1") == finished
    assert finished.status == "done"
    with pytest.raises(JobNotFoundError):
        await store.jobs.results("job-1")


async def test_a_job_without_payloads_is_done_at_once(store: Store) -> None:
    job = await store.jobs.submit("empty", [], {"k": "v"})
    assert (job.status, job.total, job.finished_at) == ("done", 0, job.created_at)
    assert await store.jobs.info("empty") == job
    assert await store.jobs.results("empty") == []


@pytest.mark.parametrize("job_id", ["missing", "bad:id", ""])
async def test_an_unknown_job_raises_job_not_found(store: Store, job_id: str) -> None:
    with pytest.raises(JobNotFoundError, match="no job"):
        await store.jobs.info(job_id)
    with pytest.raises(JobNotFoundError):
        await store.jobs.cancel(job_id)
    with pytest.raises(JobNotFoundError):
        await store.jobs.results(job_id)
    with pytest.raises(JobNotFoundError):
        await store.jobs.delete(job_id)


async def test_submitting_an_existing_job_id_fails(store: Store) -> None:
    await store.jobs.submit("job-1", ["a"], {})
    with pytest.raises(StoreError, match="already exists"):
        await store.jobs.submit("job-1", ["b", "c"], {})
    assert (await store.jobs.info("job-1")).total == 1
    assert await store.jobs.depth() == 1


@pytest.mark.parametrize("job_id", ["a:b", "", "x" * 129, "spa ce"])
async def test_submit_rejects_ids_that_cannot_be_keys(store: Store, job_id: str) -> None:
    with pytest.raises(ValueError, match="job_id"):
        await store.jobs.submit(job_id, ["a"], {})


async def test_depth_counts_entries_until_they_are_acked(store: Store) -> None:
    assert await store.jobs.depth() == 0
    await store.jobs.submit("job-1", ["a", "b", "c"], {})
    assert await store.jobs.depth() == 3
    items = await claim(store, "w1", count=2)
    assert await store.jobs.depth() == 3
    await store.jobs.complete(items[0], "r", failed=False)
    assert await store.jobs.depth() == 2
    await run_all(store, items[1:] + await claim(store, "w1"))
    assert await store.jobs.depth() == 0


async def _reading(store: Store, raw_redis: Redis, prefix: str) -> None:
    """Returns once a claim on an empty Redis queue reached its read of new entries (it made
    the stream and group when the first read found none, and its next command is the blocking
    XREADGROUP). SQLite's claim polls every 50 ms, so it finds a job whenever it comes."""
    if isinstance(store.jobs, RedisJobQueue):
        await eventually(lambda: raw_redis.exists(f"{prefix}:jobs:stream"), what="the read")


async def test_a_blocked_claim_wakes_up_for_a_new_job(
    store: Store, raw_redis: Redis, prefix: str
) -> None:
    started = time.monotonic()
    waiting = asyncio.create_task(store.jobs.claim("w1", 5, block_ms=60_000, min_idle_ms=60_000))
    try:
        await _reading(store, raw_redis, prefix)
        assert not waiting.done()
        await store.jobs.submit("job-1", ["a"], {})
        items = await asyncio.wait_for(waiting, timeout=10)
    finally:
        waiting.cancel()
    assert [(i.job_id, i.index, i.payload) for i in items] == [("job-1", 0, "a")]
    assert time.monotonic() - started < 30  # woken by the job, not by the 60 s block


async def test_a_blocked_claim_returns_empty_after_block_ms(store: Store) -> None:
    assert await store.jobs.claim("w1", 5, block_ms=100, min_idle_ms=0) == []


@pytest.mark.parametrize(
    ("count", "block_ms", "idle_ms", "message"),
    [
        (0, 0, 0, "count must be >= 1, got 0"),
        (1, -1, 0, "block_ms and min_idle_ms must be >= 0, got -1, 0"),
        (1, 0, -1, "block_ms and min_idle_ms must be >= 0, got 0, -1"),
    ],
)
async def test_claim_rejects_bad_arguments(
    store: Store, count: int, block_ms: int, idle_ms: int, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        await store.jobs.claim("w1", count, block_ms=block_ms, min_idle_ms=idle_ms)


async def test_redis_re_creates_a_lost_group_and_redelivers_unacked_work(
    raw_redis: Redis, prefix: str, tmp_path: Path
) -> None:
    store = open_store(REDIS_URL, tmp_path / "unused.db", prefix=prefix)
    try:
        await store.jobs.submit("job-1", ["a", "b", "c"], {})
        done_item, lost_item = await claim(store, "w1", count=2)
        await store.jobs.complete(done_item, "r0", failed=False)
        assert await raw_redis.xgroup_destroy(f"{prefix}:jobs:stream", GROUP) == 1
        items = await claim(store, "w2")
        assert [(i.index, i.deliveries) for i in items] == [(1, 1), (2, 1)]
        assert items[0].entry_id == lost_item.entry_id
        await run_all(store, items)
        job = await store.jobs.info("job-1")
        assert (job.status, job.done) == ("done", 3)
    finally:
        await store.close()
        await raw_redis.delete(*[key async for key in raw_redis.scan_iter(match=f"{prefix}:*")])


async def test_every_redis_key_has_a_ttl(raw_redis: Redis, prefix: str, tmp_path: Path) -> None:
    store = open_store(REDIS_URL, tmp_path / "unused.db", prefix=prefix, job_ttl_s=3600)
    try:
        await store.jobs.submit("job-1", ["a", "b"], {})
        await store.jobs.complete((await claim(store, "w1", count=1))[0], "r", failed=False)
        await store.cache.set("k", "v", ttl_s=60)
        keys = sorted([key async for key in raw_redis.scan_iter(match=f"{prefix}:*")])
        assert keys == [
            f"{prefix}:cache:k",
            f"{prefix}:job:job-1",
            f"{prefix}:job:job-1:results",
            f"{prefix}:jobs:stream",
        ]
        ttls = {key: await raw_redis.ttl(key) for key in keys}
        assert all(0 < ttl <= 3600 for ttl in ttls.values()), ttls
        assert ttls[f"{prefix}:job:job-1"] > 3500
    finally:
        await store.close()
        await raw_redis.delete(*[key async for key in raw_redis.scan_iter(match=f"{prefix}:*")])


async def test_sqlite_claim_with_zero_idle_never_hands_out_an_item_twice(tmp_path: Path) -> None:
    from router_svc.store.sqlite import open_sqlite_store

    store = open_sqlite_store(tmp_path / "q.sqlite3")
    try:
        await store.jobs.submit("job-zero", ["a", "b"], {})
        items = await store.jobs.claim("w", 16, block_ms=0, min_idle_ms=0)
        assert sorted(i.index for i in items) == [0, 1]
    finally:
        await store.close()
