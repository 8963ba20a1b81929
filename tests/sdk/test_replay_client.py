"""The SDK against a real server over a recorded pool (replay engine, no model): the async
client's chat, stream, route and batch round trip, and the sync client, each checked against
the same pipeline in this process."""

from __future__ import annotations

import asyncio

import pytest

from router_svc.assembly import build_pipeline
from router_svc.config.routers import DEFAULT_ROUTER
from router_svc.errors import JobNotFoundError
from router_svc.results import QuestionResult
from router_svc.sdk import AsyncClient, Client
from router_svc.types import Question
from tests.support import ReplaySuite


async def answered_here(suite: ReplaySuite, questions: list[Question]) -> list[QuestionResult]:
    runtime = suite.runtime()
    try:
        pipeline = build_pipeline(runtime, suite.suite)
        return await pipeline.answer(questions, pipeline.options(k=2))
    finally:
        await runtime.close()


async def test_chat_stream_and_route(replay_server: str, replay_suite: ReplaySuite) -> None:
    asked = replay_suite.questions()[20:22]
    expected = await answered_here(replay_suite, asked)
    async with AsyncClient(replay_server) as client:
        chat = await client.chat(asked[0].question, suite=replay_suite.suite, k=2)
        stream = client.chat_stream(asked[1].question, suite=replay_suite.suite, k=2)
        async with stream:
            pieces = [piece async for piece in stream]
        decision = await client.route(asked[0].question, suite=replay_suite.suite, k=2)

    assert chat.text == expected[0].aggregate.text
    assert chat.experts == list(expected[0].assignment.chosen)
    assert chat.router.aggregation is not None
    assert chat.router.aggregation.method == expected[0].aggregate.method
    assert {"tag", "route", "experts"} <= chat.router.timings.batch.keys()
    assert "".join(pieces) == stream.result.text == expected[1].aggregate.text
    assert stream.router.assignment is not None
    assert stream.router.assignment.chosen == list(expected[1].assignment.chosen)
    assert decision.chosen == list(expected[0].assignment.chosen)


async def test_a_batch_round_trip(replay_server: str, replay_suite: ReplaySuite) -> None:
    asked = replay_suite.questions()[30:35]
    expected = await answered_here(replay_suite, asked)
    async with AsyncClient(replay_server) as client:
        batch = await client.submit_batch(asked, suite=replay_suite.suite, k=2)
        assert batch.request_counts.total == len(asked)
        await replay_suite.run_worker()
        done = await client.wait(batch.id, poll_s=0.05, timeout_s=10, progress=False)
        results = await client.batch_results(batch.id)

    assert done.status == "completed"
    assert [r.id for r in results] == [q.id for q in asked]
    for result, want in zip(results, expected, strict=True):
        assert result.ok
        assert result.final is not None
        assert result.final.text == want.aggregate.text
        assert result.routing is not None
        assert result.routing.chosen == list(want.assignment.chosen)
        assert result.correct == want.correct
        assert {"tag", "route", "experts", "aggregate"} <= result.timings.batch.keys()


async def test_delete_batch_removes_a_batch(replay_server: str, replay_suite: ReplaySuite) -> None:
    asked = replay_suite.questions()[35:37]
    async with AsyncClient(replay_server) as client:
        queued = await client.submit_batch(asked, suite=replay_suite.suite)
        assert await client.delete_batch(queued.id) is None
        for call in (client.batch, client.batch_results, client.cancel_batch, client.delete_batch):
            with pytest.raises(JobNotFoundError, match=queued.id):
                await call(queued.id)


def test_the_sync_client_cancels_and_deletes(replay_server: str, replay_suite: ReplaySuite) -> None:
    asked = replay_suite.questions()[37:38]
    with Client(replay_server) as client:
        batch = client.submit_batch(asked, suite=replay_suite.suite)
        cancelled = client.cancel_batch(batch.id)
        assert client.batch(batch.id) == cancelled
        client.delete_batch(batch.id)
        with pytest.raises(JobNotFoundError):
            client.batch(batch.id)
        with pytest.raises(JobNotFoundError):
            client.delete_batch(batch.id)
    assert (cancelled.status, cancelled.finished) == ("cancelled", True)


def test_the_sync_client_answers_too(replay_server: str, replay_suite: ReplaySuite) -> None:
    asked = replay_suite.questions()[40:41]
    (expected,) = asyncio.run(answered_here(replay_suite, asked))
    with Client(replay_server) as client:
        answer = client.chat(asked[0].question, suite=replay_suite.suite, k=2)
        models = {model.id for model in client.models()}
    assert answer.text == expected.aggregate.text
    assert f"router-svc:{replay_suite.suite}" in models
    assert set(replay_suite.data.experts) <= models


async def test_a_request_picks_its_routing_method(
    replay_server: str, replay_suite: ReplaySuite
) -> None:
    question = replay_suite.questions()[40].question
    async with AsyncClient(replay_server) as client:
        default = await client.route(question, suite=replay_suite.suite, k=1)
        skill = await client.route(question, suite=replay_suite.suite, k=1, router="skill")
        chat = await client.chat(question, suite=replay_suite.suite, k=1, router="skill")
    assert default.assignment.router == DEFAULT_ROUTER
    assert skill.assignment.router == "skill"
    assert chat.router.assignment is not None
    assert chat.router.assignment.router == "skill"
