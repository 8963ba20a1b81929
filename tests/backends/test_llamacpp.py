"""The llamacpp engine on the real GGUF models that ship on PyPI."""

from __future__ import annotations

import llama_cpp
import pytest

from router_svc.backends.base import EngineContext
from router_svc.backends.llamacpp import LlamaCppEngine
from router_svc.config.model_files import resolve_model_path
from router_svc.config.pool import PoolConfig
from router_svc.errors import BackendTimeout
from router_svc.types import Completion, GenerationRequest
from tests.support import eventually

pytestmark = pytest.mark.slow

QUESTION = GenerationRequest.user("What is 2 + 3?", max_tokens=24)


async def test_smollm2_generates_real_tokens_deterministically(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    expert = pool.expert("smol-math")
    engine = LlamaCppEngine(expert, engine_context)
    first, second = await engine.generate([QUESTION, QUESTION])
    assert first.text == second.text  # temperature 0 is greedy
    assert first.prompt_tokens > 10  # system prompt + question
    # SmolLM2-135M talks past 24 tokens on this question: the limit ends it, and the text is
    # exactly the tokens counted (read back with the model's own vocabulary).
    assert (first.finish_reason, first.completion_tokens) == ("length", 24)
    path = resolve_model_path(expert.model, engine_context.model_cache_dir)
    vocab = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    assert len(vocab.tokenize(first.text.encode(), add_bos=False, special=False)) == 24
    assert first.seconds > 0
    assert first.expert == "smol-math"
    assert engine.memory_bytes() > 90_000_000
    await engine.unload()
    assert engine.memory_bytes() == 0
    assert not engine.loaded


async def test_gemma_base_model_answers_with_few_shot_prompt(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    engine = LlamaCppEngine(pool.expert("gemma-fewshot"), engine_context)
    question = (
        "What is the capital of France? The options are: (A) Paris (B) Rome (C) Oslo (D) Bern"
    )
    try:
        (completion,) = await engine.generate([GenerationRequest.user(question)])
    finally:
        await engine.unload()
    assert completion.text.strip(), "gemma returned empty text: is chat_format gemma set?"
    assert "\n" not in completion.text.strip()  # the expert's stop sequence
    assert completion.prompt_tokens > 60  # the few-shot examples are in the prompt


async def test_grammar_constrains_the_output(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    engine = LlamaCppEngine(pool.expert("smol-facts"), engine_context)
    request = GenerationRequest.user(
        "Is water wet? Answer yes or no.", grammar='root ::= "yes" | "no"', temperature=0.9
    )
    try:
        completions = await engine.generate([request] * 3)
    finally:
        await engine.unload()
    assert {c.text for c in completions} <= {"yes", "no"}


async def test_streaming_matches_the_whole_answer(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    engine = LlamaCppEngine(pool.expert("smol-facts"), engine_context)
    request = GenerationRequest.user("Name a primary colour.", max_tokens=16)
    try:
        pieces = [piece async for piece in engine.stream(request)]
        (whole,) = await engine.generate([request])
    finally:
        await engine.unload()
    assert len(pieces) > 1
    assert "".join(pieces) == whole.text


async def test_seeded_sampling_is_reproducible(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    engine = LlamaCppEngine(pool.expert("smol-facts"), engine_context)
    hot = GenerationRequest.user("Tell me a fact.", temperature=1.0, seed=7, max_tokens=20)
    try:
        first, second = await engine.generate([hot, hot])
    finally:
        await engine.unload()
    assert first.text == second.text


async def test_timeout_is_reported_as_backend_timeout(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    slow = pool.expert("smol-math").model_copy(update={"timeout_s": 0.05, "max_tokens": 200})
    engine = LlamaCppEngine(slow, engine_context)
    try:
        with pytest.raises(BackendTimeout, match="smol-math"):
            await engine.generate([GenerationRequest.user("Count from 1 to 100.")])
    finally:
        await engine.unload()


async def streamed(
    engine: LlamaCppEngine, request: GenerationRequest
) -> tuple[list[str], list[Completion]]:
    done: list[Completion] = []
    pieces = [piece async for piece in engine.stream_completion(request, done.append)]
    return pieces, done


@pytest.mark.parametrize(
    ("expert", "question", "max_tokens"),
    [
        ("smol-facts", "Name a primary colour.", 16),  # cut at max_tokens
        ("smol-facts", "Say hello.", 64),  # ends by itself
        ("gemma-fewshot", "What is the capital of France?", None),  # its stop sequence, "\n"
    ],
)
async def test_a_stream_is_the_unstreamed_generation_with_its_exact_counts(
    pool: PoolConfig, engine_context: EngineContext, expert: str, question: str, max_tokens: int
) -> None:
    engine = LlamaCppEngine(pool.expert(expert), engine_context)
    request = GenerationRequest.user(question, max_tokens=max_tokens, temperature=0.0)
    try:
        pieces, (completion,) = await streamed(engine, request)
        (whole,) = await engine.generate([request])
    finally:
        await engine.unload()
    assert len(pieces) > 1
    assert "".join(pieces) == completion.text == whole.text
    assert (completion.prompt_tokens, completion.completion_tokens) == (
        whole.prompt_tokens,
        whole.completion_tokens,
    )
    assert completion.finish_reason == whole.finish_reason


async def test_a_stream_closed_early_stops_its_generation(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    engine = LlamaCppEngine(pool.expert("smol-facts"), engine_context)
    story = "Write a very long story about a dragon."
    request = GenerationRequest.user(story, max_tokens=400, temperature=0.0)
    try:
        (whole,) = await engine.generate([request])
        done: list[Completion] = []
        stream = engine.stream_completion(request, done.append)
        await anext(stream)
        await stream.aclose()
        await eventually(lambda: bool(done), what="the stopped generation's completion")
    finally:
        await engine.unload()
    assert whole.completion_tokens == 400  # the whole answer is long
    assert done[0].completion_tokens < 100
