"""The micro-batcher on a real llama.cpp engine: concurrent submits share one generate call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from router_svc.backends.base import EngineContext
from router_svc.backends.litellm import LiteLLMEngine
from router_svc.backends.llamacpp import LlamaCppEngine
from router_svc.backends.registry import create_engine
from router_svc.config.pool import ExpertConfig, PoolConfig
from router_svc.errors import ConfigError, RouterSvcError, UnknownComponentError
from router_svc.execution.microbatch import MicroBatcher
from router_svc.execution.models import MB, ModelManager
from router_svc.types import Completion, GenerationRequest
from tests.support import eventually

EXPERT = "smol-facts"
QUESTIONS = (
    "Name a primary colour.",
    "What is the capital of France?",
    "Which planet is known as the Red Planet?",
    "What is the boiling point of water in Celsius?",
    "Who wrote Hamlet?",
)


class RecordingLlamaCpp(LlamaCppEngine):
    """The real llama.cpp engine, noting the size of every generate call it gets."""

    def __init__(self, expert: ExpertConfig, context: EngineContext) -> None:
        super().__init__(expert, context)
        self.calls: list[int] = []

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.calls.append(len(requests))
        return await super().generate(requests)


class RecordingLiteLLM(LiteLLMEngine):
    """The real litellm engine, noting the size of every generate call it gets."""

    def __init__(self, expert: ExpertConfig) -> None:
        super().__init__(expert)
        self.calls: list[int] = []

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.calls.append(len(requests))
        return await super().generate(requests)


def requests(count: int) -> list[GenerationRequest]:
    return [GenerationRequest.user(q, max_tokens=8, temperature=0.0) for q in QUESTIONS[:count]]


@pytest.fixture
async def engine(
    pool: PoolConfig, engine_context: EngineContext
) -> AsyncIterator[RecordingLlamaCpp]:
    engine = RecordingLlamaCpp(pool.expert(EXPERT), engine_context)
    yield engine
    await engine.unload()


@pytest.mark.slow
async def test_concurrent_submits_become_one_generate_call(engine: RecordingLlamaCpp) -> None:
    batcher = MicroBatcher(ModelManager({EXPERT: engine}, budget_bytes=2048 * MB), max_wait_ms=50)
    try:
        batched = await asyncio.gather(*(batcher.submit(EXPERT, r) for r in requests(4)))
    finally:
        await batcher.close()
    assert engine.calls == [4]
    assert batcher.stats.sizes == (4,)
    assert batcher.stats.batches == 1
    singles = [(await engine.generate([request]))[0] for request in requests(4)]
    assert [c.text for c in batched] == [c.text for c in singles]
    assert all(c.completion_tokens > 0 and c.expert == EXPERT for c in batched)


@pytest.mark.slow
async def test_batches_are_capped_at_max_batch_size(engine: RecordingLlamaCpp) -> None:
    models = ModelManager({EXPERT: engine}, budget_bytes=2048 * MB)
    batcher = MicroBatcher(models, max_batch_size=2, max_wait_ms=50)
    try:
        results = await asyncio.gather(*(batcher.submit(EXPERT, r) for r in requests(5)))
    finally:
        await batcher.close()
    assert engine.calls == [2, 2, 1]
    assert batcher.stats.sizes == (2, 2, 1)
    assert batcher.stats.requests == len(results) == 5
    assert models.stats.loads == 1


@pytest.mark.slow
async def test_an_error_reaches_every_waiting_caller(
    pool: PoolConfig, engine_context: EngineContext, tmp_path: Path
) -> None:
    ghost = pool.expert(EXPERT).model_copy(update={"model": str(tmp_path / "missing.gguf")})
    batcher = MicroBatcher(
        ModelManager({EXPERT: create_engine(ghost, engine_context)}, budget_bytes=MB)
    )
    try:
        outcomes = await asyncio.gather(
            *(batcher.submit(EXPERT, r) for r in requests(3)), return_exceptions=True
        )
    finally:
        await batcher.close()
    assert len(outcomes) == 3
    for outcome in outcomes:
        assert isinstance(outcome, ConfigError)
        assert "missing.gguf" in str(outcome)
    assert batcher.stats.sizes == (3,)


async def test_unknown_expert_is_rejected_at_submit() -> None:
    batcher = MicroBatcher(ModelManager({}, budget_bytes=MB))
    with pytest.raises(UnknownComponentError, match="no expert named 'nope'"):
        await batcher.submit("nope", requests(1)[0])
    assert batcher.stats.batches == 0


async def test_close_fails_waiting_callers_and_later_submits(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    engine = create_engine(pool.expert(EXPERT), engine_context)
    batcher = MicroBatcher(ModelManager({EXPERT: engine}, budget_bytes=MB), max_wait_ms=60_000)
    waiting = asyncio.ensure_future(batcher.submit(EXPERT, requests(1)[0]))
    queue = await eventually(lambda: batcher._queues.get(EXPERT), what="the expert's queue")
    await eventually(queue.empty, what="the worker to take the request and wait for peers")
    await batcher.close()
    with pytest.raises(RouterSvcError, match="closed"):
        await waiting
    with pytest.raises(RouterSvcError, match="closed"):
        await batcher.submit(EXPERT, requests(1)[0])
    assert not engine.loaded
    assert batcher.stats.batches == 0


@pytest.mark.slow
async def test_independent_requests_skip_the_window(llama_server: str) -> None:
    """A remote engine's requests go to it at once, one by one: a 30 s window never applies."""
    expert = ExpertConfig(
        name="remote-smol", engine="litellm", model="openai/smollm2", api_base=llama_server
    )
    engine = RecordingLiteLLM(expert)
    batcher = MicroBatcher(ModelManager({expert.name: engine}, budget_bytes=MB), max_wait_ms=30_000)
    short = [GenerationRequest.user(q, max_tokens=4) for q in QUESTIONS[:3]]
    try:
        results = await asyncio.gather(*(batcher.submit(expert.name, r) for r in short))
    finally:
        await batcher.close()
    assert engine.calls == [1, 1, 1]
    assert batcher.stats.sizes == (1, 1, 1)
    assert all(c.completion_tokens > 0 and c.expert == expert.name for c in results)
    assert not batcher._queues


@pytest.mark.parametrize(("size", "wait"), [(0, 10.0), (4, -1.0)])
def test_bad_settings_are_rejected(size: int, wait: float) -> None:
    with pytest.raises(ValueError, match="max_"):
        MicroBatcher(ModelManager({}, budget_bytes=MB), max_batch_size=size, max_wait_ms=wait)


class ObservedLlamaCpp(RecordingLlamaCpp):
    """Notes every generation it finishes, also one nobody waits for any more."""

    def __init__(self, expert: ExpertConfig, context: EngineContext) -> None:
        super().__init__(expert, context)
        self.finished: list[Completion] = []

    def _complete(self, request: GenerationRequest, *args: Any) -> Completion:
        completion = super()._complete(request, *args)
        self.finished.append(completion)
        return completion


STORY = GenerationRequest.user(
    "Write a very long story about a dragon.", max_tokens=400, temperature=0.0
)


@pytest.mark.slow
async def test_a_batch_every_caller_left_stops_its_generation(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    engine = ObservedLlamaCpp(pool.expert(EXPERT), engine_context)
    batcher = MicroBatcher(ModelManager({EXPERT: engine}, budget_bytes=2048 * MB), max_wait_ms=1)
    try:
        caller = asyncio.create_task(batcher.submit(EXPERT, STORY))
        await eventually(lambda: engine.calls, what="the generation to start")
        caller.cancel()
        await asyncio.gather(caller, return_exceptions=True)
        # the generation may still wait for llama.cpp's process-wide compute lock on a busy
        # machine (one CI run took over 10 s); once it runs, the stop ends it at its first
        # token, which the token count below checks
        await eventually(
            lambda: engine.finished, what="the stopped generation to end", timeout_s=90
        )
        after = await batcher.submit(EXPERT, requests(1)[0])
    finally:
        await batcher.close()
        await engine.unload()
    assert engine.finished[0].completion_tokens < 100  # of the 400 it would have made
    assert after.completion_tokens > 0  # the batcher serves the next request


@pytest.mark.slow
async def test_a_batch_another_caller_waits_for_runs_on(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    engine = ObservedLlamaCpp(pool.expert(EXPERT), engine_context)
    batcher = MicroBatcher(ModelManager({EXPERT: engine}, budget_bytes=2048 * MB), max_wait_ms=50)
    short = GenerationRequest.user("Write a long story about a cat.", max_tokens=30)
    try:
        leaving = asyncio.create_task(batcher.submit(EXPERT, short))
        staying = asyncio.create_task(batcher.submit(EXPERT, requests(1)[0]))
        await eventually(lambda: engine.calls, what="the batch to start")
        leaving.cancel()
        answer = await staying
    finally:
        await batcher.close()
        await engine.unload()
    assert engine.calls == [2]
    assert engine.finished[0].finish_reason == "length"  # ran to its limit, not stopped
    assert answer.completion_tokens > 0
