"""Usage streamed and not, on a real server with the real ``openai`` client: the same request
counts the same tokens either way (direct and routed calls), the tagger's tokens are part of
it, and a client that leaves mid-stream stops its generation."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.support import eventually
from tests.support import metric_sample as sample

pytestmark = pytest.mark.slow

EXPERT = "smol-facts"
QUESTION = "Explain in detail why the sky is blue during the day and red at sunset."


@pytest.fixture
def client(api_server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api_server}/v1", api_key="unused", max_retries=0)


def usage_of(model: Any) -> tuple[int, int, int]:
    usage = model.usage
    assert usage is not None
    return usage.prompt_tokens, usage.completion_tokens, usage.total_tokens


def router_of(model: Any) -> dict[str, Any]:
    router: dict[str, Any] = (model.model_extra or {})["router"]
    return router


def both(client: openai.OpenAI, **request: Any) -> tuple[Any, Any, str]:
    """The request's completion, its stream's last chunk and the streamed text."""
    whole = client.chat.completions.create(**request)
    chunks = list(
        client.chat.completions.create(
            **request, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return whole, chunks[-1], text


def test_a_direct_call_counts_the_same_tokens_streamed_or_not(client: openai.OpenAI) -> None:
    whole, last, text = both(
        client,
        model=EXPERT,
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=40,
        temperature=0,
    )

    assert text == whole.choices[0].message.content
    assert usage_of(last) == usage_of(whole)
    assert last.choices[0].finish_reason == whole.choices[0].finish_reason
    assert router_of(last)["usage_estimated"] is False


@pytest.mark.parametrize(("k", "tagger"), [(1, "keyword"), (2, "keyword"), (1, "llm")])
def test_a_routed_call_counts_the_same_tokens_streamed_or_not(
    client: openai.OpenAI, k: int, tagger: str
) -> None:
    whole, last, text = both(
        client,
        model="router-svc:tiny",
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=12,
        extra_body={"k": k, "tagger": tagger},
    )

    assert text == whole.choices[0].message.content
    assert usage_of(last) == usage_of(whole)
    assert router_of(last)["usage"] == router_of(whole)["usage"]
    assert router_of(last)["usage_estimated"] is False


@pytest.mark.parametrize("tagger", ["llm", "keyword"])
def test_usage_counts_the_taggers_tokens(client: openai.OpenAI, tagger: str) -> None:
    completion = client.chat.completions.create(
        model="router-svc:tiny",
        messages=[{"role": "user", "content": "What is 12 times 12?"}],
        max_tokens=8,
        extra_body={"k": 1, "tagger": tagger},
    )
    parts = router_of(completion)["usage"]
    spent = parts["tagger"]["total_tokens"]

    assert spent > 0 if tagger == "llm" else spent == 0
    assert usage_of(completion)[2] == sum(part["total_tokens"] for part in parts.values())
    assert parts["tagger"]["completion_tokens"] <= 5 * 32  # 5 samples of at most 32 tokens


GENERATED = f'router_svc_tokens_total{{expert="{EXPERT}",kind="completion"}}'
CLOSED = 'router_svc_requests_total{endpoint="/v1/chat/completions",method="POST",status="499"}'
HELD = f'router_svc_expert_requests{{expert="{EXPERT}"}}'


async def test_a_client_that_leaves_mid_stream_stops_its_generation(
    client: openai.OpenAI, api_server: str
) -> None:
    request: dict[str, Any] = {
        "model": EXPERT,
        "messages": [{"role": "user", "content": "Write a very long story about a dragon."}],
        "max_tokens": 400,
        "temperature": 0,
    }
    whole = client.chat.completions.create(**request)  # how long the whole answer is
    full = usage_of(whole)[1]
    async with httpx.AsyncClient(base_url=api_server, timeout=60) as http:
        before = (await http.get("/metrics")).text
        stream = client.chat.completions.create(**request, stream=True)
        next(iter(stream))
        stream.close()

        async def stopped() -> str:
            """The metrics once the generation is counted, the slot free and the 499 in."""
            text = (await http.get("/metrics")).text
            counted = sample(text, GENERATED) > sample(before, GENERATED)
            closed = sample(text, CLOSED) == sample(before, CLOSED) + 1
            return text if counted and closed and sample(text, HELD) == 0 else ""

        after: str = await eventually(stopped, what="the stopped generation counted, a 499")
    generated = sample(after, GENERATED) - sample(before, GENERATED)
    assert full == 400  # the whole answer is long
    assert generated < 100


PROMPT = f'router_svc_tokens_total{{expert="{EXPERT}",kind="prompt"}}'


async def test_a_client_that_leaves_before_a_plain_answer_has_its_tokens_counted(
    client: openai.OpenAI, api_server: str
) -> None:
    """Not streamed: the generation stops at its next token and what it spent is counted."""
    request: dict[str, Any] = {
        "model": EXPERT,
        "messages": [{"role": "user", "content": "Write a very long story about a cat."}],
        "max_tokens": 1500,
        "temperature": 1.0,
    }
    client.chat.completions.create(**{**request, "max_tokens": 1})  # the model is loaded
    async with httpx.AsyncClient(base_url=api_server, timeout=60) as http:
        before = (await http.get("/metrics")).text
        with pytest.raises(httpx.ReadTimeout):  # the client leaves after 2 s
            await http.post("/v1/chat/completions", json=request, timeout=httpx.Timeout(60, read=2))

        async def stopped() -> str:
            text = (await http.get("/metrics")).text
            counted = sample(text, PROMPT) > sample(before, PROMPT)
            closed = sample(text, CLOSED) == sample(before, CLOSED) + 1
            return text if counted and closed and sample(text, HELD) == 0 else ""

        after: str = await eventually(stopped, what="the stopped generation counted, a 499")
    assert sample(after, GENERATED) - sample(before, GENERATED) < 1500
