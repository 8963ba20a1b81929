"""``router-svc worker --experts``: bad placement input is a clear error naming the option;
``--experts auto`` workers pick their experts from the backlog."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from router_svc.cli.main import app
from tests.batch.cluster_support import SUITE, Cluster, make_worker, payloads


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--experts", "nobody"], "--experts: nobody not in the pool"),
        (["--experts", " , "], "--experts: name at least one expert, or 'auto'"),
        (["--experts", "auto", "--heartbeat-s", "5", "--min-idle-ms", "1000"], "heartbeat_s"),
    ],
)
async def test_bad_cluster_options_are_named(
    cluster: Cluster, extra: list[str], message: str
) -> None:
    args = ["worker", "--config", str(cluster.config), *extra, "--max-idle-s", "0"]
    result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())


async def test_cluster_mode_needs_redis(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUTER_SVC_REDIS_URL")
    args = ["worker", "--config", str(cluster.config), "--experts", cluster.experts[0]]
    result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code != 0
    assert "needs Redis: set ROUTER_SVC_REDIS_URL" in " ".join(result.output.split())


async def test_auto_workers_answer_a_batch_within_their_slots(cluster: Cluster) -> None:
    runtimes = [cluster.runtime(), cluster.runtime()]
    try:
        jobs = runtimes[0].store.jobs
        await jobs.submit("auto-1", payloads(20), {"suite": SUITE})
        workers = [make_worker(r, f"auto-{i}", (), slots=2) for i, r in enumerate(runtimes)]
        await asyncio.gather(*(w.run() for w in workers))
        info = await jobs.info("auto-1")
        results = [json.loads(v) for _, v in await jobs.results("auto-1")]
    finally:
        for runtime in runtimes:
            await runtime.close()
    assert (info.status, info.done, info.failed) == ("done", 20, 0)
    assert [r["batch"]["index"] for r in results] == list(range(20))
    assert all(len(w.hosted) <= 2 for w in workers)
    answered = {e for w in workers for e in w.stats.answered}
    assert answered == {e for r in results for e in r["routing"]["chosen"]}
