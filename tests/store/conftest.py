"""Store fixtures: every store test runs on the real Redis (a fresh uuid key prefix) and on a
SQLite file."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from router_svc.store import Store, open_store
from tests.support import REDIS_URL


@pytest.fixture
def prefix() -> str:
    return f"router-svc:test:{uuid.uuid4().hex}"


@pytest_asyncio.fixture(params=["redis", "sqlite"])
async def make_store(
    request: pytest.FixtureRequest, tmp_path: Path, raw_redis: Redis, prefix: str
) -> AsyncIterator[Callable[[], Store]]:
    """Opens stores on one fresh backend: a uuid Redis prefix, or one SQLite file."""
    url = REDIS_URL if request.param == "redis" else None
    opened: list[Store] = []

    def make() -> Store:
        opened.append(open_store(url, tmp_path / "store.db", prefix=prefix))
        return opened[-1]

    yield make
    for store in opened:
        await store.close()
    keys = [key async for key in raw_redis.scan_iter(match=f"{prefix}:*")] if url else []
    if keys:
        await raw_redis.delete(*keys)


@pytest_asyncio.fixture
async def store(make_store: Callable[[], Store]) -> Store:
    return make_store()
