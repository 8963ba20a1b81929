"""The cluster mode on the real Redis: expert-affine workers over a replay-backed suite.

The suite (tests/batch/cluster_support.py) is profiled from recorded outcomes, so nothing is
generated and no model loads. In-process tests check placement (each expert loads only where
it is hosted), exactly-once results equal to the single-process path, and the status of an
expert no live worker hosts; the slow test kills a ``router-svc worker --experts`` process
mid-batch and a second one reclaims its tasks.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from router_svc.assembly import build_pipeline
from router_svc.batch.payload import BatchOptions, BatchPayload
from router_svc.batch.placement import choose_experts, unhosted
from router_svc.batch.status import stage_status
from router_svc.store.redis_stages import RedisStages, stages_of
from tests.batch.cluster_support import SUITE, WORKER, Cluster, make_worker, payloads, pool_yaml
from tests.support import eventually


def test_auto_placement_keeps_resident_experts_and_fills_by_backlog_per_host() -> None:
    backlog = {"a": 10, "b": 0, "c": 30, "d": 12}
    assert choose_experts(backlog, {"c": 2}, ["b", "a"], 2) == ["a", "d"]
    assert choose_experts(backlog, {"c": 1}, [], 2) == ["c", "d"]
    assert choose_experts({"a": 0}, {}, ["a"], 2) == []


async def test_two_expert_affine_workers_load_each_expert_once(cluster: Cluster) -> None:
    half = len(cluster.experts) // 2
    groups = (tuple(cluster.experts[:half]), tuple(cluster.experts[half:]))
    runtimes = [cluster.runtime(), cluster.runtime()]
    try:
        jobs = runtimes[0].store.jobs
        await jobs.submit("cluster-1", payloads(30), {"suite": SUITE})
        workers = [
            make_worker(runtimes[0], "w-a", groups[0]),
            make_worker(runtimes[1], "w-b", groups[1], route=False, aggregate=False),
        ]
        await asyncio.gather(*(w.run() for w in workers))
        info = await jobs.info("cluster-1")
        results = [json.loads(v) for _, v in await jobs.results("cluster-1")]
        loads = [dict(r.stats.loads_by_expert) for r in runtimes]
        single = build_pipeline(runtimes[0], SUITE)
        questions = [BatchPayload.model_validate_json(p).question for p in payloads(30)]
        expected = await single.answer([q.to_question() for q in questions], single.options())
        stages = stages_of(jobs)
        assert stages is not None
        counts = await stages.stage_counts("cluster-1")
    finally:
        for runtime in runtimes:
            await runtime.close()
    assert (info.status, info.done, info.failed) == ("done", 30, 0)
    assert [r["batch"]["index"] for r in results] == list(range(30))
    assert [r["final"]["answer"] for r in results] == [e.aggregate.answer for e in expected]
    assert [r["routing"]["chosen"] for r in results] == [e.assignment.chosen for e in expected]
    for loaded, group in zip(loads, groups, strict=True):
        assert set(loaded) <= set(group) | {cluster.experts[0]}  # the aggregator is the first
        assert all(n == 1 for n in loaded.values())
    assert set(loads[0]) | set(loads[1]) == set(cluster.experts)
    assert counts["routed"] == 30 and counts["aggregated"] == 30
    answered = sum(v for k, v in counts.items() if k.startswith("answered:"))
    assert answered == sum(v for k, v in counts.items() if k.startswith("queued:")) == 60
    assert not [k for k in counts if k.startswith("duplicate:")]


PAPER = BatchOptions(router="symbolic-moe", k=3, seed=3)
"""The paper's method: three draws with replacement per question, always aggregated."""


async def test_the_paper_s_draws_run_as_samples_in_the_cluster_as_in_one_process(
    cluster: Cluster,
) -> None:
    """Each draw is its own sample (a draw of one expert three times makes three), every
    question is aggregated once, and each record equals the single-process one."""
    runtime = cluster.runtime()
    sent = payloads(16, PAPER)
    try:
        jobs = runtime.store.jobs
        await jobs.submit("paper-1", sent, {"suite": SUITE})
        await make_worker(runtime, "w-paper", tuple(cluster.experts)).run()
        info = await jobs.info("paper-1")
        results = [json.loads(v) for _, v in await jobs.results("paper-1")]
        stages = stages_of(jobs)
        assert stages is not None
        counts = await stages.stage_counts("paper-1")
        single = build_pipeline(runtime, SUITE)
        questions = [BatchPayload.model_validate_json(p).question.to_question() for p in sent]
        expected = await single.answer(questions, single.options(PAPER))
    finally:
        await runtime.close()
    assert (info.status, info.done, info.failed) == ("done", 16, 0)
    draws = [r["routing"]["draws"] for r in results]
    assert any(len(d) == 3 and len(set(d)) == 1 for d in draws)  # one expert drawn 3 times
    assert [[e["expert"] for e in r["experts"]] for r in results] == draws
    assert all(r["final"]["aggregator"] == cluster.experts[0] for r in results)
    assert [_comparable(r) for r in results] == [_comparable(e.to_json()) for e in expected]
    queued = sum(v for k, v in counts.items() if k.startswith("queued:"))
    answered = sum(v for k, v in counts.items() if k.startswith("answered:"))
    assert queued == answered == 3 * 16 and counts["aggregated"] == 16
    assert not [k for k in counts if k.startswith("duplicate:")]


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    """A result record without what differs between runs: its timings and batch place."""
    return {k: v for k, v in record.items() if k not in ("timings", "batch")}


async def test_an_expert_no_live_worker_hosts_is_reported(cluster: Cluster) -> None:
    runtime = cluster.runtime()
    try:
        jobs = runtime.store.jobs
        await jobs.submit("cluster-2", payloads(6), {"suite": SUITE})
        assert await stage_status(jobs, "cluster-2") is None  # not routed yet
        router = make_worker(runtime, "w-route", (cluster.experts[0],), heartbeat_s=5.0)
        await router.run_round()
        hosted = await stage_status(jobs, "cluster-2")
        stages = stages_of(jobs)
        assert isinstance(stages, RedisStages)
        await stages.unregister("w-route")
        gone = await stage_status(jobs, "cluster-2")
    finally:
        await runtime.close()
    assert hosted is not None and gone is not None
    assert hosted["routed"] == 6 and sum(hosted["queued"].values()) == 12
    waiting = hosted["waiting_experts"]
    assert cluster.experts[0] not in waiting  # its host answered its tasks in that round
    assert hosted["unhosted_experts"] == waiting and waiting
    assert gone["unhosted_experts"] == waiting
    assert unhosted(waiting, []) == waiting


@pytest.fixture
def slow_pool(cluster: Cluster, tmp_path: Path) -> Iterator[Path]:
    """The cluster's pool with a 2 s load per expert, so a worker can die mid-batch."""
    yield pool_yaml(tmp_path / "slow.yaml", cluster.experts, 2.0)


def _spawn(cluster: Cluster, config: Path, name: str) -> subprocess.Popen[bytes]:
    experts = ",".join(cluster.experts)
    args = [*WORKER, "--config", str(config), "--experts", experts, "--consumer", name]
    args += ["--suite", SUITE, "--batch-size", "8", "--min-idle-ms", "3000"]
    args += ["--heartbeat-s", "0.5", "--max-idle-s", "8"]
    env = {**os.environ, **cluster.env}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
async def test_a_killed_worker_s_tasks_are_reclaimed_and_answered_once(
    cluster: Cluster, slow_pool: Path, raw_redis: Redis
) -> None:
    runtime = cluster.runtime()
    prefix = cluster.env["ROUTER_SVC_REDIS_PREFIX"]
    streams = [f"{prefix}:expert:{e}" for e in cluster.experts]

    async def first_holds_tasks() -> bool:
        for key in streams:
            try:
                if await raw_redis.xpending_range(key, "experts", "-", "+", 10, "w-first"):
                    return True
            except ResponseError:  # the stream or its group is not there yet
                continue
        return False

    try:
        await runtime.store.jobs.submit("cluster-3", payloads(24), {"suite": SUITE})
        first = _spawn(cluster, slow_pool, "w-first")
        second = _spawn(cluster, slow_pool, "w-second")
        try:
            held: bool = await eventually(first_holds_tasks, what="w-first to claim", timeout_s=60)
            assert held
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=10)
        _, stderr = await asyncio.to_thread(second.communicate, timeout=120)
        log = stderr.decode()
        assert second.returncode == 0, log[-2000:]
        info = await runtime.store.jobs.info("cluster-3")
        results = [json.loads(v) for _, v in await runtime.store.jobs.results("cluster-3")]
        stages = stages_of(runtime.store.jobs)
        assert stages is not None
        counts = await stages.stage_counts("cluster-3")
    finally:
        await runtime.close()
    assert (info.status, info.done + info.failed) == ("done", 24)
    assert [r["batch"]["index"] for r in results] == list(range(24))
    assert all("error" not in r for r in results)
    assert {r["batch"]["worker"] for r in results} == {"w-second"}  # w-first died loading
    lines = re.findall(r"w-second: expert (\S+) answered \d+ \(total \d+, loads 1\)", log)
    assert set(lines) == {e for r in results for e in r["routing"]["chosen"]}
    assert counts["aggregated"] == 24
    assert sum(v for k, v in counts.items() if k.startswith("answered:")) == 48


async def test_questions_that_cannot_be_routed_are_failed_once(cluster: Cluster) -> None:
    runtime = cluster.runtime()
    good = payloads(1)[0]
    unprofiled = good.replace(f'"suite":"{SUITE}"', '"suite":"never-profiled"')
    assert unprofiled != good
    try:
        jobs = runtime.store.jobs
        await jobs.submit("bad-1", ['{"question": {"id": 7}}', unprofiled, good], {})
        worker = make_worker(runtime, "w-bad", tuple(cluster.experts))
        await worker.run()
        info = await jobs.info("bad-1")
        results = [json.loads(v) for _, v in await jobs.results("bad-1")]
    finally:
        await runtime.close()
    assert (info.status, info.done, info.failed) == ("done", 1, 2)
    assert results[0]["error"]["type"] == "invalid_payload"
    assert "question.question" in results[0]["error"]["message"]
    assert "never-profiled" in results[1]["error"]["message"]
    assert results[1]["id"] == results[2]["id"] and "final" in results[2]


async def test_a_question_whose_aggregation_keeps_stopping_workers_is_failed_once(
    cluster: Cluster,
) -> None:
    runtime = cluster.runtime()
    try:
        jobs = runtime.store.jobs
        stages = stages_of(jobs)
        assert stages is not None
        await jobs.submit("poison-agg", payloads(4), {"suite": SUITE})
        experts = tuple(cluster.experts)
        await make_worker(runtime, "w-answer", experts, aggregate=False).run()
        # Workers that claim two of the aggregations and die before recording them.
        for attempt in range(3):
            held = await stages.claim(f"dead-{attempt}", ["aggregate"], 2, min_idle_ms=0)
            assert [e.deliveries for e in held] == [attempt + 1] * 2
        poisoned = {e.index for e in held}
        settle = {"max_deliveries": 3, "min_idle_ms": 50, "heartbeat_s": 0.02}
        await asyncio.sleep(0.1)
        stats = await make_worker(runtime, "w-settle", (), route=False, **settle).run()
        info = await jobs.info("poison-agg")
        results = [json.loads(v) for _, v in await jobs.results("poison-agg")]
        counts = await stages.stage_counts("poison-agg")
    finally:
        await runtime.close()
    assert (info.status, info.done, info.failed) == ("done", 2, 2)
    assert [r["batch"]["index"] for r in results] == [0, 1, 2, 3]
    for record in results:
        if record["batch"]["index"] in poisoned:
            assert record["error"]["type"] == "too_many_deliveries"
            assert record["batch"]["deliveries"] == 4
            assert record["id"] is not None
        else:
            assert "final" in record and record["batch"]["deliveries"] == 1
    assert stats.aggregated == 2  # settled by the aggregator; the two given up are not
    assert counts["aggregated"] == 4  # every question left the aggregation stage once


@pytest.mark.slow
async def test_a_worker_stays_registered_through_a_round_longer_than_its_ttl(
    cluster: Cluster,
) -> None:
    runtime = cluster.runtime()
    raw = Redis.from_url(str(runtime.settings.redis_url), decode_responses=True)
    try:
        worker = make_worker(runtime, "w-long", (cluster.experts[0],), heartbeat_s=0.5)
        key = f"{runtime.store.jobs.prefix}:worker:w-long"  # type: ignore[attr-defined]

        async def registered() -> bool:
            return "w-long" in [w.consumer for w in await worker.stages.workers()]

        async def lapsed() -> bool:
            return not await registered()

        await worker.run_round()  # registers, for 3 heartbeats (the 3 s floor)
        assert await registered()
        # A round with no beat (routing was one): the entry lapses once its TTL runs out.
        await eventually(lapsed, what="the registration to lapse")
        await worker.run_round()
        async with worker._claim_heartbeat(()):  # what a routing round runs in
            seen: list[int] = []

            async def renewed() -> bool:
                """The registration's time to live went back up: a beat renewed it."""
                seen.append(await raw.pttl(key))
                return seen[-1] > min(seen) + 200

            for beat in range(8):  # 8 beats of 0.5 s: past the 3 s TTL it registered with
                seen.clear()
                await eventually(renewed, what=f"beat {beat} to renew the registration")
                assert await registered()
    finally:
        await raw.aclose()
        await runtime.close()
