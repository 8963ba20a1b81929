"""ModelManager on real llama.cpp engines: loading on demand, LRU eviction within a budget."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from router_svc.backends.base import Engine, EngineContext
from router_svc.backends.registry import create_engine
from router_svc.config.pool import PoolConfig
from router_svc.errors import UnknownComponentError
from router_svc.execution.models import MB, ModelManager
from router_svc.types import GenerationRequest, LoadStats

MATH, FACTS, CODE = "smol-math", "smol-facts", "smol-code"


@pytest.fixture
async def engines(
    pool: PoolConfig, engine_context: EngineContext
) -> AsyncIterator[dict[str, Engine]]:
    """Three unloaded SmolLM2 experts (the same file, so the same size)."""
    engines = {
        name: create_engine(pool.expert(name), engine_context) for name in (MATH, FACTS, CODE)
    }
    yield engines
    for engine in engines.values():
        await engine.unload()


async def model_bytes(engine: Engine) -> int:
    """The memory one loaded SmolLM2 expert holds."""
    await engine.load()
    size = engine.memory_bytes()
    await engine.unload()
    return size


def loaded(engines: dict[str, Engine]) -> set[str]:
    return {name for name, engine in engines.items() if engine.loaded}


@pytest.mark.slow
async def test_least_recently_used_is_unloaded_when_the_budget_is_full(
    engines: dict[str, Engine],
) -> None:
    size = await model_bytes(engines[MATH])
    stats = LoadStats()
    models = ModelManager(engines, budget_bytes=int(size * 2.5), stats=stats)

    await models.acquire(MATH)
    await models.acquire(FACTS)
    assert models.resident == [FACTS, MATH]
    assert stats.loads == 2

    await models.acquire(CODE)
    assert models.resident == [CODE, FACTS]
    assert not engines[MATH].loaded
    assert engines[MATH].memory_bytes() == 0
    assert loaded(engines) == {CODE, FACTS}
    assert models.memory_bytes() == 2 * size <= models.budget_bytes

    await models.acquire(FACTS)  # resident: no load, but now the most recent
    assert stats.loads == 3
    await models.acquire(MATH)  # so CODE is the one to go
    assert models.resident == [MATH, FACTS]
    assert loaded(engines) == {MATH, FACTS}
    assert stats.loads == 4
    assert stats.loads_by_expert == {MATH: 2, FACTS: 1, CODE: 1}
    assert stats.load_seconds > 0


@pytest.mark.slow
async def test_a_model_larger_than_the_budget_still_loads_alone(
    engines: dict[str, Engine],
) -> None:
    models = ModelManager(engines, budget_bytes=1 * MB)
    await models.acquire(MATH)
    engine = await models.acquire(FACTS)
    assert loaded(engines) == {FACTS}
    (completion,) = await engine.generate([GenerationRequest.user("Hi!", max_tokens=4)])
    assert completion.completion_tokens > 0
    assert models.stats.loads == 2


@pytest.mark.slow
async def test_a_pinned_model_is_not_evicted(engines: dict[str, Engine]) -> None:
    size = await model_bytes(engines[MATH])
    models = ModelManager(engines, budget_bytes=int(size * 1.5))
    await models.acquire(MATH)
    with models.pinned(MATH):
        await models.acquire(FACTS)
        assert loaded(engines) == {MATH, FACTS}  # over budget while MATH is in use
    await models.acquire(CODE)
    assert loaded(engines) == {CODE}


@pytest.mark.slow
async def test_concurrent_acquires_load_once(engines: dict[str, Engine]) -> None:
    models = ModelManager(engines, budget_bytes=2048 * MB)
    first, second, third = await asyncio.gather(*(models.acquire(MATH) for _ in range(3)))
    assert first is second is third is engines[MATH]
    assert first.loaded
    assert models.stats.loads == 1
    assert models.stats.loads_by_expert == {MATH: 1}


@pytest.mark.slow
async def test_unload_and_release_all(engines: dict[str, Engine]) -> None:
    models = ModelManager(engines, budget_bytes=2048 * MB)
    for name in (MATH, FACTS, CODE):
        await models.acquire(name)
    await models.unload(FACTS)
    assert models.resident == [CODE, MATH]
    await models.release_all()
    assert models.resident == []
    assert loaded(engines) == set()
    assert models.memory_bytes() == 0


async def test_unknown_expert_names_the_closest(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    models = ModelManager.from_pool(pool, engine_context)
    assert models.budget_bytes == pool.memory_budget_mb * MB
    assert set(models.names) == set(pool.names)
    with pytest.raises(UnknownComponentError, match="Did you mean 'smol-math'"):
        await models.acquire("smol-mat")
    assert models.stats.loads == 0


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="budget_bytes"):
        ModelManager({}, budget_bytes=0)
