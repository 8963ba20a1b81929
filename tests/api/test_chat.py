"""POST /v1/chat/completions on a real server, called with the real ``openai`` client."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest

pytestmark = pytest.mark.slow

QUESTION = "What is 12 + 8?"
EXPERT = "smol-facts"


@pytest.fixture
def client(api_server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api_server}/v1", api_key="unused", max_retries=0)


def extra(model: Any) -> dict[str, Any]:
    """The fields of an openai response model that OpenAI's schema does not have."""
    return dict(model.model_extra or {})


def test_router_answers_with_the_explanation_and_usage(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="router-svc:tiny",
        messages=[{"role": "user", "content": QUESTION}],
        extra_body={"k": 2, "tagger": "keyword"},
    )
    completion = raw.parse()
    router = extra(completion)["router"]

    assert completion.choices[0].message.content
    assert completion.object == "chat.completion"
    assert router["suite"] == "tiny"
    assignment = router["assignment"]
    assert len(assignment["chosen"]) == 2
    assert {"tags", "skills", "scores", "chosen", "fallback"} <= set(assignment)
    assert [e["expert"] for e in router["experts"]] == assignment["chosen"]
    assert all(e["text"] for e in router["experts"])
    assert router["aggregation"]["method"] in ("aggregator", "unanimous", "majority", "single")
    spent = sum(e["prompt_tokens"] + e["completion_tokens"] for e in router["experts"])
    assert completion.usage is not None
    assert completion.usage.total_tokens >= spent > 0
    assert raw.headers["x-router-suite"] == "tiny"
    assert raw.headers["x-router-experts"] == ",".join(assignment["chosen"])
    assert "tag=" in raw.headers["x-router-timings"]
    assert "experts=" in raw.headers["x-router-timings"]
    assert raw.headers["x-request-id"]


def test_plain_router_model_uses_the_default_suite(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="router-svc",
        messages=[
            {"role": "system", "content": "ignored by the router"},
            {"role": "user", "content": "What is the atomic number of hydrogen?"},
        ],
        extra_body={"k": 1, "tagger": "keyword"},
    )
    router = extra(completion)["router"]
    assert router["suite"] == "tiny"
    assert router["aggregation"]["method"] == "single"
    assert completion.choices[0].message.content == router["experts"][0]["text"]


def test_direct_expert_call_honours_the_sampling_fields(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=EXPERT,
        messages=[{"role": "user", "content": "Name a primary colour."}],
        max_tokens=4,
        temperature=0.7,
        seed=11,
    )
    completion = raw.parse()
    assert completion.model == EXPERT
    assert completion.usage is not None
    assert 0 < completion.usage.completion_tokens <= 4
    assert completion.choices[0].finish_reason in ("length", "stop")
    assert raw.headers["x-router-experts"] == EXPERT
    assert extra(completion)["router"]["expert"] == EXPERT


async def test_concurrent_direct_calls_are_micro_batched_and_all_answer(api_server: str) -> None:
    client = openai.AsyncOpenAI(base_url=f"{api_server}/v1", api_key="x", max_retries=0)
    questions = ["Who wrote Hamlet?", "What is 2 + 2?", "Name a planet.", "Name a colour."]

    async def ask(question: str) -> str:
        completion = await client.chat.completions.create(
            model=EXPERT,
            messages=[{"role": "user", "content": question}],
            max_tokens=6,
            temperature=0.9,
        )
        return completion.choices[0].message.content or ""

    batches_before = _metric(api_server, "router_svc_microbatch_size_count")
    requests_before = _metric(api_server, "router_svc_microbatch_size_sum")
    try:
        answers = await asyncio.gather(*(ask(q) for q in questions))
    finally:
        await client.close()
    batches = _metric(api_server, "router_svc_microbatch_size_count") - batches_before
    requests = _metric(api_server, "router_svc_microbatch_size_sum") - requests_before

    assert len(answers) == 4
    assert all(answers)
    assert requests == 4
    assert batches < 4  # requests that arrive while a batch generates wait for the next one


def test_streamed_router_answer_assembles_into_the_final_text(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="router-svc:tiny",
        messages=[{"role": "user", "content": "How many legs does an insect have?"}],
        stream=True,
        extra_body={"k": 2, "tagger": "keyword"},
    )
    chunks = list(stream)
    first, last = extra(chunks[0]), chunks[-1]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    assert first["router"]["assignment"]["chosen"]
    assert len(first["router"]["experts"]) == 2
    assert last.choices[0].finish_reason == "stop"
    assert last.usage is not None and last.usage.total_tokens > 0
    final = extra(last)["router"]
    assert final["aggregation"]["method"] in ("aggregator", "unanimous", "majority", "single")
    assert text.strip()
    if first["router"]["streaming"]["stage"] == "replay":
        assert text == final["experts"][0]["text"] or final["aggregation"]["method"] != "single"


def test_streamed_lone_expert_streams_live(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="router-svc:tiny",
        messages=[{"role": "user", "content": "What is 4 + 9?"}],
        stream=True,
        extra_body={"k": 1, "tagger": "keyword"},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    first, final = extra(chunks[0])["router"], extra(chunks[-1])["router"]

    assert first["streaming"]["stage"] == "expert"
    assert len(chunks) > 3
    assert final["experts"][0]["text"] == text.strip()
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(chunks) - 2


def test_streamed_direct_expert_call(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=EXPERT,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        stream=True,
        max_tokens=12,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert text
    assert chunks[-1].usage is not None
    assert 0 < chunks[-1].usage.completion_tokens <= 12


def test_repeated_deterministic_call_is_a_cache_hit(client: openai.OpenAI, api_server: str) -> None:
    request: dict[str, Any] = {
        "model": EXPERT,
        "messages": [{"role": "user", "content": "Which planet is known as the Red Planet?"}],
        "temperature": 0,
        "max_tokens": 16,
    }
    hits_before = _metric(api_server, 'router_svc_cache_hits_total{source="direct"}')
    first = client.chat.completions.create(**request)
    second = client.chat.completions.create(**request)

    assert extra(first)["router"]["cached"] is False
    assert extra(second)["router"]["cached"] is True
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.usage == first.usage
    assert _metric(api_server, 'router_svc_cache_hits_total{source="direct"}') == hits_before + 1


def test_unknown_request_fields_are_accepted(api_server: str) -> None:
    response = httpx.post(
        f"{api_server}/v1/chat/completions",
        json={
            "model": EXPERT,
            "messages": [{"role": "user", "content": "Say hi."}],
            "max_tokens": 3,
            "presence_penalty": 0.5,
            "some_future_field": {"a": 1},
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text


def _metric(base_url: str, series: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
