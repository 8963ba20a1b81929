"""router_svc.AsyncClient against a real server and a real batch worker."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

import router_svc
from router_svc import APIError, JobNotFoundError
from tests.support import Server, free_port

pytestmark = pytest.mark.slow

QUESTION = "What is 12 + 8?"


@pytest.fixture
async def client(sdk_server: Server) -> AsyncIterator[router_svc.AsyncClient]:
    async with router_svc.AsyncClient(sdk_server.url, timeout=600) as client:
        yield client


async def test_chat(client: router_svc.AsyncClient) -> None:
    result = await client.chat(
        [{"role": "user", "content": QUESTION}], model="router-svc:tiny", k=2, tagger="keyword"
    )

    assert result.text.strip()
    assert len(result.experts) == 2
    assert result.method in {"aggregator", "unanimous", "majority", "single"}
    assert result.router.aggregation is not None
    assert result.router.aggregation.method == result.method
    assert result.usage.total_tokens > 0


async def test_chat_stream_of_one_expert(client: router_svc.AsyncClient) -> None:
    stream = client.chat_stream("Name a primary colour.", model="smol-facts", max_tokens=8)
    pieces = [piece async for piece in stream]

    assert "".join(pieces) == stream.text and pieces
    assert stream.done and stream.finish_reason == "stop"
    assert stream.router is not None and stream.router.expert == "smol-facts"
    assert stream.usage is not None and 0 < stream.usage.completion_tokens <= 8
    assert stream.result.experts == ["smol-facts"]


async def test_a_stream_left_early_is_closed(client: router_svc.AsyncClient) -> None:
    async with client.chat_stream(QUESTION, k=1, tagger="keyword") as stream:
        first = await stream.__anext__()
    assert first == stream.text
    assert stream.router is not None and stream.router.assignment is not None
    assert not stream.done
    assert [piece async for piece in stream] == []  # closed: nothing more


async def test_route_and_models_concurrently(client: router_svc.AsyncClient) -> None:
    decision, models = await asyncio.gather(
        client.route(QUESTION, k=3, tagger="keyword", mode="sampling", seed=7), client.models()
    )

    assert len(decision.chosen) == 3
    assert decision.options.mode == "sampling"
    assert {"router-svc", "router-svc:tiny", "smol-math"} <= {model.id for model in models}


async def test_a_jsonl_batch_is_answered(
    client: router_svc.AsyncClient, sdk_server: Server
) -> None:
    text = '{"id": "one", "question": "What is 1 + 1?", "gold_answer": "2"}\n'
    batch = await client.submit_batch(text, suite="tiny", k=1, tagger="keyword")
    assert batch.metadata["suite"] == "tiny"

    await asyncio.to_thread(sdk_server.run_worker)
    finished = await client.wait(batch.id, poll_s=0.2, timeout_s=120, progress=False)

    assert (finished.status, finished.request_counts.completed) == ("completed", 1)
    (result,) = await client.batch_results(batch.id)
    assert (result.id, result.gold_answer, result.ok) == ("one", "2", True)
    assert result.routing is not None and len(result.routing.chosen) == 1
    assert result.text and isinstance(result.correct, bool)


async def test_errors(client: router_svc.AsyncClient) -> None:
    with pytest.raises(APIError) as unknown:
        await client.chat(QUESTION, model="nope")
    assert (unknown.value.status_code, unknown.value.code) == (404, "model_not_found")
    assert "no model named 'nope'" in str(unknown.value)

    with pytest.raises(APIError) as tagger:
        await client.submit_batch(["What is 1 + 1?"], tagger="nope")
    assert (tagger.value.status_code, tagger.value.code) == (400, "unknown_tagger")

    with pytest.raises(JobNotFoundError):
        await client.batch("batch_0123")

    with pytest.raises(router_svc.ConfigError, match="suite='tiny' goes with"):
        await client.chat(QUESTION, model="smol-math", suite="tiny")


async def test_an_unreachable_server() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with router_svc.AsyncClient(url) as client:
        with pytest.raises(
            APIError, match=re.escape(f"cannot reach router-svc at {url}")
        ) as refused:
            await client.route(QUESTION)
        assert refused.value.code == "connection_error"
        with pytest.raises(APIError, match="cannot reach"):
            await client.chat_stream(QUESTION).__anext__()
