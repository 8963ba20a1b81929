"""The litellm engine against a real OpenAI-compatible server (llama.cpp's)."""

from __future__ import annotations

import httpx
import pytest

from router_svc.backends.litellm import LiteLLMEngine
from router_svc.config.pool import ExpertConfig
from router_svc.errors import BackendError, BackendHTTPError
from router_svc.types import GenerationRequest

pytestmark = pytest.mark.slow


def expert(api_base: str, **update: object) -> ExpertConfig:
    return ExpertConfig(
        name="remote-smol",
        engine="litellm",
        model="openai/smollm2",
        api_base=api_base,
        system_prompt="Answer briefly.",
        max_tokens=16,
        **update,  # type: ignore[arg-type]
    )


async def test_generates_through_the_server(llama_server: str) -> None:
    engine = LiteLLMEngine(expert(llama_server))
    request = GenerationRequest.user("What is the capital of France?")
    first, second = await engine.generate([request, request])
    assert first.text.strip()
    assert first.text == second.text  # temperature 0 and a seed
    assert first.prompt_tokens > 5
    assert 0 < first.completion_tokens <= 16
    assert first.expert == "remote-smol"


async def test_same_answer_as_the_server_called_directly(llama_server: str) -> None:
    engine = LiteLLMEngine(expert(llama_server))
    (completion,) = await engine.generate([GenerationRequest.user("Name a fruit.")])
    direct = httpx.post(
        f"{llama_server}/chat/completions",
        json={
            "model": "smollm2",
            "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "Name a fruit."},
            ],
            "temperature": 0.0,
            "top_p": 1.0,
            "max_tokens": 16,
            "seed": 0,
        },
        timeout=60,
    ).json()
    assert completion.text == direct["choices"][0]["message"]["content"]


async def test_streams_through_the_server(llama_server: str) -> None:
    engine = LiteLLMEngine(expert(llama_server))
    pieces = [p async for p in engine.stream(GenerationRequest.user("Count to five."))]
    assert len(pieces) > 1
    assert "".join(pieces).strip()


async def test_unreachable_server_is_a_backend_error() -> None:
    engine = LiteLLMEngine(
        expert("http://127.0.0.1:9/v1", options={"retries": 1, "backoff_s": 0.01}, timeout_s=5)
    )
    with pytest.raises(BackendHTTPError) as info:
        await engine.generate([GenerationRequest.user("hi")])
    assert info.value.expert == "remote-smol"
    assert "cannot reach http://127.0.0.1:9/v1" in str(info.value)


async def test_missing_api_key_env_names_the_variable(llama_server: str) -> None:
    engine = LiteLLMEngine(expert(llama_server, api_key_env="ROUTER_SVC_TEST_NO_SUCH_KEY"))
    with pytest.raises(BackendError) as info:
        await engine.generate([GenerationRequest.user("hi")])
    assert type(info.value) is BackendError  # a setup error, not an HTTP failure
    assert str(info.value) == (
        "expert 'remote-smol': set the environment variable ROUTER_SVC_TEST_NO_SUCH_KEY"
    )
    assert (info.value.expert, info.value.backend) == ("remote-smol", "LiteLLMEngine")
