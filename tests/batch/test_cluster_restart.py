"""The cluster mode survives a Redis restart with AOF, and fails clearly without persistence.

A redis-server of the test's own (a free port, its files in tmp_path) is stopped after the
questions were routed and half of their answers were kept, then started again. With the
append-only file the same workers carry on and every question gets exactly one result;
without persistence the batch is gone: its status is a JobNotFoundError (404 over the API)
and the workers go idle instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from router_svc.batch.status import stage_status
from router_svc.errors import JobNotFoundError
from tests.batch.cluster_support import SUITE, Cluster, make_worker, payloads

pytestmark = pytest.mark.slow


class RedisServer:
    """One redis-server subprocess on a free port, its files under ``folder``."""

    def __init__(self, folder: Path, *, aof: bool) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.folder = folder
        self.aof = aof
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed; apt-get install redis-server"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--dir", str(self.folder), "--daemonize", "no"]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.aof else []
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        self._wait(accepting=True)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
        self._wait(accepting=False)

    def _wait(self, *, accepting: bool) -> None:
        deadline = time.monotonic() + 10
        while self._accepts() != accepting:
            assert time.monotonic() < deadline, f"redis-server on {self.port} did not change"
            time.sleep(0.05)

    def _accepts(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0


@pytest.fixture(params=[True, False], ids=["aof", "no-persistence"])
def own_redis(
    request: pytest.FixtureRequest,
    cluster: Cluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[RedisServer]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder, aof=request.param)
    server.start()
    monkeypatch.setenv("ROUTER_SVC_REDIS_URL", server.url)
    yield server
    server.stop()


async def test_batches_continue_after_a_restart_with_aof(
    cluster: Cluster, own_redis: RedisServer
) -> None:
    half = len(cluster.experts) // 2
    runtimes = [cluster.runtime(), cluster.runtime()]
    try:
        jobs = runtimes[0].store.jobs
        await jobs.submit("restart-1", payloads(12), {"suite": SUITE})
        first = make_worker(runtimes[0], "w-1", tuple(cluster.experts[:half]), batch_size=16)
        await first.run_round()  # routes all 12 and answers the first half of the experts
        before = await stage_status(jobs, "restart-1")
        own_redis.stop()
        own_redis.start()
        second = make_worker(
            runtimes[1], "w-2", tuple(cluster.experts[half:]), route=False, aggregate=False
        )
        await asyncio.wait_for(asyncio.gather(first.run(), second.run()), timeout=60)
        if own_redis.aof:
            info = await jobs.info("restart-1")
            results = [json.loads(v) for _, v in await jobs.results("restart-1")]
        else:
            with pytest.raises(JobNotFoundError, match="restart-1"):
                await jobs.info("restart-1")
            assert await stage_status(jobs, "restart-1") is None
    finally:
        for runtime in runtimes:
            await runtime.close()
    assert before is not None and before["routed"] == 12
    if own_redis.aof:
        assert (info.status, info.done, info.failed) == ("done", 12, 0)
        assert [r["batch"]["index"] for r in results] == list(range(12))
