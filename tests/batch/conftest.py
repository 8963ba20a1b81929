"""The ``cluster`` fixture: a profiled replay pool under a fresh Redis prefix."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from typer.testing import CliRunner

from router_svc.cli.main import app
from router_svc.replay.data import load_replay
from tests.batch.cluster_support import SMALL, Cluster, pool_yaml
from tests.support import REDIS_URL


@pytest_asyncio.fixture
async def cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw_redis: Redis
) -> AsyncIterator[Cluster]:
    prefix = f"router-svc-test:cluster:{uuid.uuid4().hex[:12]}:v1"
    env = {
        "ROUTER_SVC_REDIS_URL": REDIS_URL,
        "ROUTER_SVC_REDIS_PREFIX": prefix,
        "ROUTER_SVC_SKILLS_DIR": str(tmp_path / "skills"),
        "ROUTER_SVC_DATA_DIR": str(tmp_path / "data"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    experts = load_replay(SMALL).experts
    config = pool_yaml(tmp_path / "experts.yaml", experts, 0.0)
    profiled = await asyncio.to_thread(
        CliRunner().invoke, app, ["profile", "--replay", str(SMALL), "--config", str(config)]
    )
    assert profiled.exit_code == 0, profiled.output
    yield Cluster(config, env, experts)
    keys = [key async for key in raw_redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await raw_redis.delete(*keys)
