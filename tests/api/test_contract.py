"""The OpenAI contract at the API's edges, on a real server with the real ``openai`` client:
finish_reason and usage of routed answers, max_tokens on the router, strict input, tools,
errors before a stream starts, control characters in the log, warm-up before ready."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from tests.support import drop_redis_prefix, eventually, redis_env, start_server

pytestmark = pytest.mark.slow

LONG_QUESTION = "Explain in detail why the sky is blue during the day and red at sunset."
EXPERT = "smol-facts"


@pytest.fixture
def client(api_server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api_server}/v1", api_key="unused", max_retries=0)


def extra(model: Any) -> dict[str, Any]:
    return dict(model.model_extra or {})


def routed(client: openai.OpenAI, k: int, max_tokens: int) -> Any:
    return client.chat.completions.create(
        model="router-svc:tiny",
        messages=[{"role": "user", "content": LONG_QUESTION}],
        max_tokens=max_tokens,
        extra_body={"k": k, "tagger": "keyword"},
    )


def routed_stream(client: openai.OpenAI, k: int, max_tokens: int) -> list[Any]:
    stream = client.chat.completions.create(
        model="router-svc:tiny",
        messages=[{"role": "user", "content": LONG_QUESTION}],
        max_tokens=max_tokens,
        stream=True,
        extra_body={"k": k, "tagger": "keyword"},
    )
    return list(stream)


@pytest.mark.parametrize("k", [1, 2])
def test_max_tokens_limits_every_generation_of_a_routed_answer(
    client: openai.OpenAI, k: int
) -> None:
    completion = routed(client, k, 4)
    router = extra(completion)["router"]

    assert all(0 < e["completion_tokens"] <= 4 for e in router["experts"])
    assert router["usage"]["aggregator"]["completion_tokens"] <= 4
    assert completion.choices[0].finish_reason == "length"


@pytest.mark.parametrize("k", [1, 2])
def test_a_streamed_answer_cut_at_max_tokens_says_length(client: openai.OpenAI, k: int) -> None:
    chunks = routed_stream(client, k, 4)
    last = chunks[-1]
    router = extra(last)["router"]

    assert last.choices[0].finish_reason == "length"
    assert all(e["completion_tokens"] <= 4 for e in router["experts"])
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)


def test_usage_is_the_sum_of_its_parts(client: openai.OpenAI) -> None:
    completion = routed(client, 2, 8)
    router = extra(completion)["router"]
    parts = router["usage"]
    experts = sum(e["prompt_tokens"] + e["completion_tokens"] for e in router["experts"])

    assert completion.usage is not None
    assert parts["experts"]["total_tokens"] == experts
    whole = parts["experts"]["total_tokens"] + parts["aggregator"]["total_tokens"]
    assert completion.usage.total_tokens == whole


def test_a_streamed_usage_has_the_same_parts(client: openai.OpenAI) -> None:
    last = routed_stream(client, 2, 8)[-1]
    parts = extra(last)["router"]["usage"]

    assert last.usage is not None
    whole = parts["experts"]["total_tokens"] + parts["aggregator"]["total_tokens"]
    assert last.usage.total_tokens == whole > 0


def test_a_too_long_prompt_streamed_to_an_expert_is_a_400_before_the_stream(
    api_server: str,
) -> None:
    body = {
        "model": EXPERT,
        "messages": [{"role": "user", "content": "word " * 6000}],
        "stream": True,
    }
    response = httpx.post(f"{api_server}/v1/chat/completions", json=body, timeout=120)

    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "context_length_exceeded"


def post(api_server: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{api_server}/v1/chat/completions", json=body, timeout=60)


def chat(model: str = EXPERT, **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **fields}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (chat(stream="yes"), "stream"),
        (chat(stream=1), "stream"),
        (chat("router-svc", k="2"), "k"),
        (chat(max_tokens="4"), "max_tokens"),
        ({"model": EXPERT, "messages": [{"role": "user", "content": "a\u0000b"}]}, None),
    ],
)
def test_loosely_typed_fields_are_a_400_naming_the_field(
    api_server: str, body: dict[str, Any], param: str | None
) -> None:
    response = post(api_server, body)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == (param or "messages.0.content")
    assert error["param"] in error["message"]


@pytest.mark.parametrize("model", [EXPERT, "router-svc"])
@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"functions": [{"name": "f"}]}, "functions"),
        (
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
                    {"role": "tool", "content": "42", "tool_call_id": "1"},
                ]
            },
            "messages.1.tool_calls",
        ),
        (
            {"messages": [{"role": "tool", "content": "42"}, {"role": "user", "content": "x"}]},
            "messages.0.role",
        ),
    ],
)
def test_tool_calling_is_refused_with_a_clear_400(
    api_server: str, model: str, fields: dict[str, Any], param: str
) -> None:
    response = post(api_server, chat(model, **fields))

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "tools_not_supported"
    assert error["param"] == param
    assert "tool calling is not supported" in error["message"]


def test_a_body_that_is_not_utf8_names_the_encoding(api_server: str) -> None:
    response = httpx.post(
        f"{api_server}/v1/chat/completions",
        content=b'{"model": "smol-facts", "messages": [{"role": "user", "content": "\xff"}]}',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert "UTF-8" in error["message"]


def server_log(base_url: str) -> Path:
    port = urlsplit(base_url).port
    return Path(tempfile.gettempdir()) / f"router-svc-test-{port}.log"


async def test_control_characters_of_a_request_cannot_forge_a_log_line(api_server: str) -> None:
    async with httpx.AsyncClient(base_url=api_server) as http:
        response = await http.get("/v1/models/abc%0AFORGED%20LINE%0D%1b[31m")
    assert response.status_code == 404
    log = server_log(api_server)

    def logged() -> bool:
        return "abc\\nFORGED LINE\\r\\x1b[31m" in log.read_text(errors="replace")

    await eventually(logged, what="the escaped path in the server log")
    lines = log.read_text(errors="replace").splitlines()
    assert not [line for line in lines if line.startswith("FORGED")]


async def test_ready_means_warm(tiny_profile_env: dict[str, str]) -> None:
    """A server of its own, polled from its start (the shared one has served other tests)."""
    env = {**tiny_profile_env, **redis_env("warm-up")}
    try:
        with start_server(env) as base_url:
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:

                async def ready() -> bool:
                    return (await http.get("/readyz")).status_code == 200

                await eventually(ready, what="/readyz to be 200", timeout_s=180)
            log = server_log(base_url).read_text(errors="replace")
    finally:
        drop_redis_prefix(env["ROUTER_SVC_REDIS_PREFIX"])
    assert "warmed up suite tiny" in log
