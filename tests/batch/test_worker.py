"""The batch worker on the real stores: failure records, exit rules, and the crash test.

The fast tests run a worker in this process on items it must fail without a model (a broken
payload, an unprofiled suite, too many deliveries). The slow ones run ``router-svc worker``
subprocesses on real tiny models: a worker killed with SIGKILL mid-batch leaves its claimed
items pending, a second worker reclaims them, and every question is answered exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from router_svc.assembly import Runtime, build_pipeline
from router_svc.batch.payload import BatchOptions, BatchPayload, BatchQuestion
from router_svc.batch.worker import BatchWorker, WorkerOptions
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings
from router_svc.pipeline import Pipeline
from router_svc.questions.suites import load_questions
from router_svc.store import Store, open_store
from router_svc.store.redis import GROUP
from tests.support import eventually

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"
TINY_TEST = ROOT / "tests" / "fixtures" / "suites" / "tiny" / "test.jsonl"
WORKER = [sys.executable, "-c", "from router_svc.cli.main import app; app()", "worker"]


@dataclass
class Backend:
    """One fresh store backend: its settings, and how to count a consumer's pending items."""

    name: str
    env: dict[str, str]
    store: Store
    pending: Callable[[str], Awaitable[int]]


@pytest.fixture
def prefix() -> str:
    return f"router-svc-test:worker:{uuid.uuid4().hex[:12]}:v1"


@pytest_asyncio.fixture(params=["redis", "sqlite"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, prefix: str, raw_redis: Redis
) -> AsyncIterator[Backend]:
    """A Redis prefix or a SQLite file of its own; Redis keys are deleted afterwards."""
    data_dir = tmp_path / "data"
    if request.param == "redis":
        env = {"ROUTER_SVC_REDIS_URL": REDIS_URL, "ROUTER_SVC_REDIS_PREFIX": prefix}
        store = open_store(REDIS_URL, data_dir / "unused.sqlite3", prefix=prefix)
        pending = _redis_pending(raw_redis, prefix)
    else:
        env = {"ROUTER_SVC_DATA_DIR": str(data_dir)}
        store = open_store(None, Settings(data_dir=data_dir).sqlite_path)
        pending = _sqlite_pending(Settings(data_dir=data_dir).sqlite_path)
    yield Backend(request.param, env, store, pending)
    await store.close()
    keys = [key async for key in raw_redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await raw_redis.delete(*keys)


def _redis_pending(client: Redis, prefix: str) -> Callable[[str], Awaitable[int]]:
    async def pending(consumer: str) -> int:
        stream = f"{prefix}:jobs:stream"
        try:
            rows = await client.xpending_range(stream, GROUP, "-", "+", 1000, consumername=consumer)
        except ResponseError as exc:  # no worker has created the consumer group yet
            if "NOGROUP" not in str(exc):
                raise
            return 0
        return len(rows)

    return pending


def _sqlite_pending(path: Path) -> Callable[[str], Awaitable[int]]:
    def count(consumer: str) -> int:
        if not path.exists():
            return 0
        with sqlite3.connect(path) as conn:
            sql = "SELECT COUNT(*) FROM items WHERE lease_owner = ? AND acked = 0"
            return int(conn.execute(sql, (consumer,)).fetchone()[0])

    async def pending(consumer: str) -> int:
        return await asyncio.to_thread(count, consumer)

    return pending


def payload(qid: str, text: str = "What is 2 + 2?", suite: str = "tiny", **options: object) -> str:
    question = BatchQuestion(id=qid, question=text)
    return BatchPayload(suite=suite, question=question, options=BatchOptions(**options)).to_json()


def no_pipeline(suite: str) -> Pipeline:
    raise AssertionError(f"no pipeline should be built here (asked for {suite!r})")


def worker_for(
    store: Store, pipelines: Callable[[str], Pipeline], **options: object
) -> BatchWorker:
    settings: dict[str, Any] = {"consumer": "test-worker", "block_ms": 0, "once": True}
    opts = WorkerOptions(**(settings | options))
    return BatchWorker(store.jobs, pipelines, opts)


async def results_of(store: Store, job_id: str) -> list[dict[str, Any]]:
    return [json.loads(value) for _, value in await store.jobs.results(job_id)]


async def test_broken_payloads_complete_as_failed(backend: Backend) -> None:
    store = backend.store
    broken = ["not json", json.dumps({"v": 1, "question": {"id": "q2"}}), '{"v": 2}']
    await store.jobs.submit("job-broken", broken, {})
    stats = await worker_for(store, no_pipeline).run()
    job = await store.jobs.info("job-broken")
    assert (job.status, job.done, job.failed) == ("done", 0, 3)
    assert (stats.failed, stats.answered, stats.duplicates) == (3, 0, 0)
    records = await results_of(store, "job-broken")
    assert [r["id"] for r in records] == [None, "q2", None]
    assert all(r["error"]["type"] == "invalid_payload" for r in records)
    assert "question.question" in records[1]["error"]["message"]
    assert [r["batch"]["index"] for r in records] == [0, 1, 2]
    assert await store.jobs.depth() == 0


async def test_unprofiled_suite_fails_its_items_with_the_reason(
    backend: Backend, tmp_path: Path, root: Path
) -> None:
    settings = Settings(skills_dir=tmp_path / "skills", data_dir=tmp_path / "runtime")
    runtime = Runtime.create(settings, load_pool(root / "experts.yaml"))
    store = backend.store
    await store.jobs.submit("job-nosuite", [payload("a", suite="nope"), payload("b")], {})
    try:
        stats = await worker_for(store, lambda suite: build_pipeline(runtime, suite)).run()
    finally:
        await runtime.close()
    job = await store.jobs.info("job-nosuite")
    assert (job.status, job.done, job.failed) == ("done", 0, 2)
    assert stats.rounds == 1
    records = await results_of(store, "job-nosuite")
    assert [r["id"] for r in records] == ["a", "b"]
    for record, suite in zip(records, ["nope", "tiny"], strict=True):
        error = record["error"]
        assert error["type"] == "DataError"
        assert f"router-svc profile --suite {suite}" in error["message"]


async def test_an_item_claimed_too_often_is_given_up(backend: Backend) -> None:
    store = backend.store
    await store.jobs.submit("job-poison", [payload("p")], {})
    for attempt in range(3):  # three workers claim it and die before completing it
        claimed = await store.jobs.claim(f"dead-{attempt}", 1, block_ms=0, min_idle_ms=0)
        assert len(claimed) == 1
    await asyncio.sleep(0.01)
    stats = await worker_for(store, no_pipeline, max_deliveries=3, min_idle_ms=1).run()
    assert (stats.redelivered, stats.failed) == (1, 1)
    (record,) = await results_of(store, "job-poison")
    assert record["error"]["type"] == "too_many_deliveries"
    assert record["batch"]["deliveries"] == 4


async def test_cancelled_items_are_skipped_and_once_exits(backend: Backend) -> None:
    store = backend.store
    await store.jobs.submit("job-cancel", [payload("a"), payload("b")], {})
    await store.jobs.cancel("job-cancel")
    stats = await worker_for(store, no_pipeline).run()
    assert (stats.rounds, stats.claimed) == (0, 0)
    assert await store.jobs.depth() == 0
    assert await store.jobs.results("job-cancel") == []


async def test_a_waiting_worker_takes_each_new_job_until_stopped(backend: Backend) -> None:
    store = backend.store
    worker = worker_for(store, no_pipeline, once=False, block_ms=100)
    task = asyncio.create_task(worker.run())
    for job in ("job-late", "job-later"):  # each comes while the worker waits with no work
        await store.jobs.submit(job, ["not json"], {})

        async def finished(job: str = job) -> bool:
            return (await store.jobs.info(job)).status == "done"

        await eventually(finished, what=f"the waiting worker to take {job}")
        assert not task.done()
    worker.stop()
    stats = await asyncio.wait_for(task, timeout=5)
    assert (stats.rounds, stats.claimed, stats.failed) == (2, 2, 2)


async def test_max_idle_s_ends_a_worker(backend: Backend) -> None:
    worker = worker_for(backend.store, no_pipeline, once=False, max_idle_s=0.2, block_ms=50)
    stats = await asyncio.wait_for(worker.run(), timeout=5)
    assert stats.claimed == 0


async def test_unreachable_redis_is_retried_until_stopped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store("redis://127.0.0.1:1/0", tmp_path / "x.sqlite3", prefix="router-svc-test:x")
    worker = worker_for(store, no_pipeline, once=False, block_ms=100)
    task = asyncio.create_task(worker.run())
    await eventually(lambda: "cannot reach Redis" in caplog.text, what="a retried connection")
    worker.stop()
    stats = await asyncio.wait_for(task, timeout=10)
    await store.close()
    assert stats.rounds == 0
    assert "cannot reach Redis" in caplog.text


# --- real worker processes on real models ------------------------------------------------


def worker_env(profile: dict[str, str], backend: Backend, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_SVC_")}
    env.update(profile)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "ROUTER_SVC_N_THREADS": "2",
            "ROUTER_SVC_LOG_LEVEL": "info",
        }
    )
    if backend.name == "sqlite":  # a state file of its own; the models folder is shared
        data_dir = Path(backend.env["ROUTER_SVC_DATA_DIR"])
        data_dir.mkdir(parents=True, exist_ok=True)
        models = Path(profile["ROUTER_SVC_DATA_DIR"]) / "models"
        models.mkdir(parents=True, exist_ok=True)
        (data_dir / "models").symlink_to(models.resolve(), target_is_directory=True)
    env.update(backend.env)
    return env


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``router-svc worker`` processes (log under tmp_path); kills leftovers at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str], consumer: str, *args: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{consumer}.log").open("wb")
        command = [*WORKER, "--suite", "tiny", "--consumer", consumer, *args]
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def log_of(tmp_path: Path, consumer: str) -> str:
    return (tmp_path / f"{consumer}.log").read_text(errors="replace")


async def wait_for(
    check: Callable[[], Awaitable[bool]],
    process: subprocess.Popen[bytes],
    what: str,
    log: Callable[[], str],
    timeout_s: float = 600,
) -> None:
    """Poll ``check`` every 50 ms while ``process`` runs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if process.poll() is not None:
            raise AssertionError(f"worker exited ({process.returncode}) before {what}:\n{log()}")
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{log()}")
        await asyncio.sleep(0.05)


async def submit_tiny(store: Store, job_id: str, count: int) -> list[str]:
    questions = load_questions(TINY_TEST)[:count]
    payloads = [
        BatchPayload(
            suite="tiny",
            question=BatchQuestion(id=q.id, question=q.question, gold_answer=q.gold_answer),
            options=BatchOptions(k=2, tagger="keyword"),
        ).to_json()
        for q in questions
    ]
    await store.jobs.submit(job_id, payloads, {"suite": "tiny"})
    return [q.id for q in questions]


@pytest.mark.slow
async def test_a_killed_workers_items_are_reclaimed_and_answered_once(
    backend: Backend,
    tiny_profile: dict[str, str],
    tmp_path: Path,
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    store, job_id = backend.store, f"crash-{backend.name}"
    ids = await submit_tiny(store, job_id, 8)
    env = worker_env(tiny_profile, backend, tmp_path)
    worker_a = spawn(env, "worker-a", "--batch-size", "2", "--min-idle-ms", "600000")

    async def a_is_mid_job() -> bool:
        job = await store.jobs.info(job_id)
        return job.done >= 1 and await backend.pending("worker-a") >= 1

    await wait_for(
        a_is_mid_job, worker_a, "worker A answered some", lambda: log_of(tmp_path, "worker-a")
    )
    worker_a.send_signal(signal.SIGKILL)
    assert await asyncio.to_thread(worker_a.wait, 30) == -signal.SIGKILL
    by_a = (await store.jobs.info(job_id)).done
    left_pending = await backend.pending("worker-a")
    assert 1 <= by_a < len(ids) and left_pending >= 1

    worker_b = spawn(
        env, "worker-b", "--batch-size", "4", "--min-idle-ms", "2000", "--block-ms", "300", "--once"
    )
    assert await asyncio.to_thread(worker_b.wait, 600) == 0, log_of(tmp_path, "worker-b")

    job = await store.jobs.info(job_id)
    assert (job.status, job.total, job.done, job.failed) == ("done", len(ids), len(ids), 0)
    rows = await store.jobs.results(job_id)
    assert [index for index, _ in rows] == list(range(len(ids)))
    records = [json.loads(value) for _, value in rows]
    assert [r["id"] for r in records] == ids  # every question once, in input order
    workers = [r["batch"]["worker"] for r in records]
    assert workers.count("worker-a") == by_a
    assert workers.count("worker-b") == len(ids) - by_a
    reclaimed = [r for r in records if r["batch"]["deliveries"] >= 2]
    assert len(reclaimed) == left_pending
    assert all(r["batch"]["worker"] == "worker-b" for r in reclaimed)
    assert all(r["final"]["answer"] is not None or r["experts"] for r in records)
    assert await store.jobs.depth() == 0
    assert await backend.pending("worker-b") == 0
    assert "0 duplicates" in log_of(tmp_path, "worker-b")


@pytest.mark.slow
async def test_sigterm_finishes_the_round_then_exits(
    tiny_profile: dict[str, str],
    tmp_path: Path,
    prefix: str,
    raw_redis: Redis,
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    store = open_store(REDIS_URL, tmp_path / "unused.sqlite3", prefix=prefix)
    env = {"ROUTER_SVC_REDIS_URL": REDIS_URL, "ROUTER_SVC_REDIS_PREFIX": prefix}
    backend = Backend("redis", env, store, _redis_pending(raw_redis, prefix))
    try:
        await submit_tiny(store, "job-term", 3)
        env = worker_env(tiny_profile, backend, tmp_path)
        worker = spawn(env, "worker-t", "--batch-size", "2")

        async def claimed() -> bool:
            return await backend.pending("worker-t") == 2

        await wait_for(claimed, worker, "the first claim", lambda: log_of(tmp_path, "worker-t"))
        assert (await store.jobs.info("job-term")).done == 0
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 600) == 0, log_of(tmp_path, "worker-t")
        job = await store.jobs.info("job-term")
        assert (job.status, job.done, job.failed) == ("running", 2, 0)
        assert await store.jobs.depth() == 1  # the third question waits for the next worker
        assert await backend.pending("worker-t") == 0
    finally:
        await store.close()
        keys = [key async for key in raw_redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await raw_redis.delete(*keys)
