"""A real redis-server goes away and comes back: the same Store object recovers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from router_svc.errors import JobNotFoundError, StoreError
from router_svc.store import Store, open_store

pytestmark = pytest.mark.asyncio

PASSWORD = "s3cret-pw"


class RedisServer:
    """One redis-server subprocess on a fixed port, without persistence."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; apt-get install redis-server")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--daemonize", "no", "--requirepass", PASSWORD]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        _wait_for(lambda: _accepts(self.port), f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
        _wait_for(lambda: not _accepts(self.port), f"port {self.port} to close")


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server() -> Iterator[RedisServer]:
    server = RedisServer(_free_port())
    server.start()
    yield server
    server.stop()


async def use_queue(store: Store, job_id: str) -> None:
    """Submit, claim and complete a two-item job; assert it finished."""
    await store.jobs.submit(job_id, ['{"n": 0}', '{"n": 1}'], {})
    items = await store.jobs.claim("w1", 10, block_ms=0, min_idle_ms=60_000)
    assert [i.index for i in items] == [0, 1]
    for item in items:
        assert await store.jobs.complete(item, f"r{item.index}", failed=False)
    assert (await store.jobs.info(job_id)).status == "done"


async def test_the_same_store_recovers_after_a_redis_restart(
    server: RedisServer, tmp_path: Path
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"
    store = open_store(url, tmp_path / "unused.db", prefix=f"router-svc:test:{uuid.uuid4().hex}")
    try:
        await store.cache.set("k", "before", ttl_s=60)
        await use_queue(store, "before")

        server.stop()
        assert await store.ping() is False
        with pytest.raises(StoreError) as caught:
            await store.cache.get("k")
        message = str(caught.value)
        assert f"is Redis running at redis://:***@127.0.0.1:{server.port}/0?" in message
        assert PASSWORD not in message
        assert caught.value.__cause__ is not None
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: store.cache.set("k", "v", ttl_s=60),
            lambda: store.jobs.submit("during", ["x"], {}),
            lambda: store.jobs.claim("w1", 1, block_ms=0, min_idle_ms=0),
            lambda: store.jobs.info("before"),
            lambda: store.jobs.depth(),
        ]
        for call in calls:
            with pytest.raises(StoreError, match="cannot reach Redis"):
                await call()

        server.start()  # same port, empty: the stream and its consumer group are gone
        assert await store.ping() is True
        assert await store.cache.get("k") is None
        await store.cache.set("k", "after", ttl_s=60)
        assert await store.cache.get("k") == "after"
        with pytest.raises(JobNotFoundError):
            await store.jobs.info("before")
        await use_queue(store, "after")
        assert await store.jobs.results("after") == [(0, "r0"), (1, "r1")]
        assert await store.jobs.depth() == 0
    finally:
        await store.close()


async def test_a_wrong_password_is_a_store_error_without_the_password(
    server: RedisServer, tmp_path: Path
) -> None:
    store = open_store(f"redis://:wrong-pw@127.0.0.1:{server.port}/0", tmp_path / "unused.db")
    try:
        with pytest.raises(StoreError, match="password") as caught:
            await store.cache.get("k")
        assert "wrong-pw" not in str(caught.value)
        assert await store.ping() is False
    finally:
        await store.close()
