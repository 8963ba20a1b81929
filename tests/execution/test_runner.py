"""The executor on real llama.cpp engines: load counts, result order, failures, caching."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from router_svc.backends.base import Engine, EngineContext
from router_svc.backends.llamacpp import LlamaCppEngine
from router_svc.backends.registry import create_engine
from router_svc.config.model_files import file_fingerprint, resolve_model_path
from router_svc.config.pool import PoolConfig
from router_svc.errors import FailureKind
from router_svc.execution.models import MB, ModelManager
from router_svc.execution.plan import Task
from router_svc.execution.runner import Executor, TaskResult
from router_svc.types import Completion, GenerationRequest, LoadStats

EXPERTS = ("smol-math", "smol-facts", "gemma-fewshot")
QUESTIONS = (
    "What is 2 + 3?",
    "Which planet is known as the Red Planet?",
    "What is the capital of France?",
    "What is 10 - 4?",
)


def make_tasks(
    experts: Sequence[str] = EXPERTS, questions: Sequence[str] = QUESTIONS
) -> list[Task]:
    """Every question to every expert, interleaved: q0:a, q0:b, q0:c, q1:a, ..."""
    return [
        Task(f"q{i}:{expert}", expert, GenerationRequest.user(question, max_tokens=8))
        for i, question in enumerate(questions)
        for expert in experts
    ]


def executor(
    engines: dict[str, Engine],
    cache: DictCache | None = None,
    cache_identity: Callable[[str], str] | None = None,
    cache_ttl_s: int = 3600,
) -> tuple[Executor, LoadStats]:
    stats = LoadStats()
    models = ModelManager(engines, budget_bytes=2048 * MB, stats=stats)
    run = Executor(
        models, stats, cache=cache, cache_identity=cache_identity, cache_ttl_s=cache_ttl_s
    )
    return run, stats


def errors(results: Sequence[TaskResult]) -> list[str | None]:
    return [result.error for result in results if not result.ok]


def completions(results: Sequence[TaskResult]) -> list[Completion]:
    """The completions of results that must all have succeeded."""
    assert errors(results) == []
    return [result.completion for result in results if result.completion is not None]


class DictCache:
    """An in-memory GenerationCache: a test double of the protocol, not of a shipped store."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.ttls: list[int] = []

    async def get(self, key: str) -> str | None:
        return self.data.get(key)

    async def set(self, key: str, value: str, ttl_s: int) -> None:
        self.data[key] = value
        self.ttls.append(ttl_s)


class BatchedLlamaCpp(LlamaCppEngine):
    """The real llama.cpp engine, declaring a batch size so the executor sends chunks of 4."""

    max_batch_size = 4


@pytest.fixture
async def engines(
    pool: PoolConfig, engine_context: EngineContext
) -> AsyncIterator[dict[str, Engine]]:
    engines = {name: create_engine(pool.expert(name), engine_context) for name in EXPERTS}
    yield engines
    for engine in engines.values():
        await engine.unload()


@pytest.mark.slow
async def test_grouped_run_loads_each_expert_once_and_keeps_input_order(
    engines: dict[str, Engine], capsys: pytest.CaptureFixture[str]
) -> None:
    run, stats = executor(engines)
    tasks = make_tasks()
    seen: list[tuple[TaskResult, int]] = []
    results = await run.run(tasks, on_result=lambda r: seen.append((r, stats.loads)), progress=True)

    assert [r.task for r in results] == tasks
    for task, completion in zip(tasks, completions(results), strict=True):
        assert completion.expert == task.expert
        assert 0 < completion.completion_tokens <= 8
        assert not completion.cached
    assert stats.loads == 3
    assert stats.loads_by_expert == dict.fromkeys(EXPERTS, 1)
    assert stats.generate_calls == 12  # llama.cpp's max_batch_size is 1
    assert stats.completion_tokens == sum(c.completion_tokens for c in completions(results))
    assert stats.generate_seconds > 0
    # on_result saw every result, as it arrived (the first before the last expert loaded)
    assert sorted(r.task.key for r, _ in seen) == sorted(t.key for t in tasks)
    assert [loads for _, loads in seen] == sorted(loads for _, loads in seen)
    assert seen[0][1] == 1
    progress = capsys.readouterr().err
    assert "12/12" in progress
    assert any(expert in progress for expert in EXPERTS)


@pytest.mark.slow
async def test_naive_run_loads_per_task_and_answers_the_same(engines: dict[str, Engine]) -> None:
    tasks = make_tasks()
    grouped, _ = executor(engines)
    expected = [c.text for c in completions(await grouped.run(tasks))]
    for engine in engines.values():
        await engine.unload()

    naive, stats = executor(engines)
    results = await naive.run(tasks, mode="naive")
    assert [c.text for c in completions(results)] == expected
    assert stats.loads == 12
    assert stats.loads_by_expert == dict.fromkeys(EXPERTS, 4)
    assert not any(engine.loaded for engine in engines.values())


@pytest.mark.slow
async def test_timeouts_fail_only_their_tasks(
    pool: PoolConfig, engine_context: EngineContext, engines: dict[str, Engine]
) -> None:
    slow = pool.expert("smol-math").model_copy(update={"timeout_s": 0.01})
    mixed = {"smol-math": create_engine(slow, engine_context), "smol-facts": engines["smol-facts"]}
    run, stats = executor(mixed)
    try:
        results = await run.run(make_tasks(["smol-math", "smol-facts"]))
    finally:
        await mixed["smol-math"].unload()
    for result in results:
        if result.task.expert == "smol-math":
            assert not result.ok
            assert result.completion is None
            assert (result.error or "").startswith("BackendTimeout: ")
            assert result.failure is FailureKind.TIMEOUT
        else:
            assert result.ok, result.error
    assert stats.loads == 2


@pytest.mark.slow
async def test_a_failing_chunk_is_retried_one_task_at_a_time(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    engine = BatchedLlamaCpp(pool.expert("smol-facts"), engine_context)
    run, stats = executor({"smol-facts": engine})
    tasks = make_tasks(["smol-facts"])
    too_long = GenerationRequest.user("word " * 3000, max_tokens=8)  # over the 2048 context
    tasks[2] = Task("too-long", "smol-facts", too_long)
    try:
        results = await run.run(tasks)
    finally:
        await engine.unload()
    assert [r.ok for r in results] == [True, True, False, True]
    assert (results[2].error or "").startswith("ContextLengthError: ")
    assert "context window" in (results[2].error or "")
    assert results[2].failure is FailureKind.CONTEXT_LENGTH
    assert stats.generate_calls == 1 + 4  # the failed chunk, then each task alone


@pytest.mark.slow
async def test_an_expert_that_cannot_load_fails_only_its_tasks(
    pool: PoolConfig, engine_context: EngineContext, engines: dict[str, Engine], tmp_path: Path
) -> None:
    ghost = pool.expert("smol-facts").model_copy(
        update={"name": "ghost", "model": str(tmp_path / "missing.gguf")}
    )
    mixed = {"ghost": create_engine(ghost, engine_context), "smol-math": engines["smol-math"]}
    run, stats = executor(mixed)
    seen: list[TaskResult] = []
    results = await run.run(make_tasks(["ghost", "smol-math"]), on_result=seen.append)
    assert len(seen) == len(results) == 8
    for result in results:
        if result.task.expert == "ghost":
            assert result.completion is None
            assert "ConfigError" in (result.error or "")
            assert "missing.gguf" in (result.error or "")
        else:
            assert result.ok, result.error
    assert stats.loads_by_expert == {"smol-math": 1}


@pytest.mark.slow
async def test_cached_run_needs_no_model(
    pool: PoolConfig, engine_context: EngineContext, engines: dict[str, Engine]
) -> None:
    def identity(expert: str) -> str:
        model = pool.expert("smol-facts" if expert == "sampled" else expert).model
        return file_fingerprint(resolve_model_path(model, engine_context.model_cache_dir))

    sampled_expert = pool.expert("smol-facts").model_copy(update={"name": "sampled", "seed": None})
    sampled_engine = create_engine(sampled_expert, engine_context)
    engines = {**engines, "sampled": sampled_engine}
    sampled = Task(
        "sampled", "sampled", GenerationRequest.user("Hi", max_tokens=8, temperature=0.8)
    )
    tasks = [*make_tasks(["smol-math", "smol-facts"], QUESTIONS[:2]), sampled]
    cache = DictCache()
    first_run, first_stats = executor(engines, cache=cache, cache_identity=identity, cache_ttl_s=60)
    first = completions(await first_run.run(tasks))
    assert len(cache.data) == 4  # the sampled request is not cached
    assert first_stats.loads == 3
    assert cache.ttls == [60] * 4
    for engine in engines.values():
        await engine.unload()

    second_run, stats = executor(engines, cache=cache, cache_identity=identity)
    second = completions(await second_run.run(tasks))
    await sampled_engine.unload()
    assert [c.cached for c in second] == [True] * 4 + [False]
    assert [c.text for c in second[:4]] == [c.text for c in first[:4]]
    assert [c.completion_tokens for c in second[:4]] == [c.completion_tokens for c in first[:4]]
    assert stats.loads_by_expert == {"sampled": 1}
    assert not engines["smol-math"].loaded and not engines["smol-facts"].loaded

    other_model, other_stats = executor(engines, cache=cache, cache_identity=lambda _: "other")
    (result,) = await other_model.run(tasks[:1])
    assert result.completion is not None and not result.completion.cached
    assert other_stats.loads == 1


async def test_unknown_expert_fails_its_tasks() -> None:
    run, stats = executor({})
    (result,) = await run.run([Task("q", "nope", GenerationRequest.user("Hi"))])
    assert result.completion is None
    assert (result.error or "").startswith("UnknownComponentError: no expert named 'nope'")
    assert stats.loads == 0


@pytest.mark.parametrize("mode", ["grouped", "naive"])
async def test_duplicate_keys_are_rejected(mode: str) -> None:
    run, _ = executor({})
    tasks = [
        Task("q1", "a", GenerationRequest.user("x")),
        Task("q1", "b", GenerationRequest.user("y")),
    ]
    with pytest.raises(ValueError, match="'q1'"):
        await run.run(tasks, mode=mode)  # type: ignore[arg-type]


async def test_bad_arguments_are_rejected() -> None:
    run, _ = executor({})
    with pytest.raises(ValueError, match="mode"):
        await run.run([], mode="parallel")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cache_identity"):
        Executor(ModelManager({}, budget_bytes=MB), LoadStats(), cache=DictCache())
    assert await run.run([]) == []
