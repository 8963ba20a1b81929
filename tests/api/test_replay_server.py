"""The API over a recorded pool (replay engine, no model): a real uvicorn server called with the
real ``openai`` client and httpx. Every answer is checked against the file it was recorded in,
through the same pipeline in this process."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest_asyncio

from router_svc.assembly import build_pipeline
from router_svc.pipeline import QuestionResult
from tests.support import ReplaySuite

SUITE_MODEL = "router-svc:replay_small"


@pytest_asyncio.fixture
async def client(replay_server: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=f"{replay_server}/v1", api_key="unused", max_retries=0
    ) as client:
        yield client


async def answered_here(suite: ReplaySuite, question: str, k: int = 2) -> QuestionResult:
    """What the pipeline answers in this process (the server must agree)."""
    runtime = suite.runtime()
    try:
        pipeline = build_pipeline(runtime, suite.suite)
        asked = next(q for q in suite.questions() if q.question == question)
        (result,) = await pipeline.answer([asked], pipeline.options(k=k))
        return result
    finally:
        await runtime.close()


def ask(question: str) -> list[Any]:
    return [{"role": "user", "content": question}]


async def test_chat_answers_as_the_pipeline_does(
    client: openai.AsyncOpenAI, replay_suite: ReplaySuite
) -> None:
    question = replay_suite.questions()[3].question
    raw = await client.chat.completions.with_raw_response.create(
        model=SUITE_MODEL, messages=ask(question), extra_body={"k": 2}
    )
    completion = raw.parse()
    router = (completion.model_extra or {})["router"]
    expected = await answered_here(replay_suite, question)

    assert completion.choices[0].message.content == expected.aggregate.text
    assert router["suite"] == replay_suite.suite
    assert router["assignment"]["chosen"] == list(expected.assignment.chosen)
    assert [e["text"] for e in router["experts"]] == [a.text for a in expected.answers]
    assert router["aggregation"]["method"] == expected.aggregate.method
    assert raw.headers["x-router-experts"] == ",".join(expected.assignment.chosen)


async def test_a_streamed_answer_is_the_whole_answer_in_pieces(
    client: openai.AsyncOpenAI, replay_suite: ReplaySuite
) -> None:
    question = replay_suite.questions()[5].question
    stream = await client.chat.completions.create(
        model=SUITE_MODEL, messages=ask(question), stream=True, extra_body={"k": 2}
    )
    pieces = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
    expected = await answered_here(replay_suite, question)

    assert text == expected.aggregate.text
    finished = [c.choices[0].finish_reason for c in pieces if c.choices]
    assert finished[-1] == "stop"
    assert pieces[0].model_extra and pieces[0].model_extra["router"]["assignment"][
        "chosen"
    ] == list(expected.assignment.chosen)


async def test_route_chooses_without_generating(
    replay_server: str, replay_suite: ReplaySuite
) -> None:
    question = replay_suite.questions()[7].question
    async with httpx.AsyncClient(base_url=replay_server) as http:
        response = await http.post("/v1/route", json={"question": question, "k": 3})
    assert response.status_code == 200, response.text
    runtime = replay_suite.runtime()
    try:
        pipeline = build_pipeline(runtime, replay_suite.suite)
        asked = next(q for q in replay_suite.questions() if q.question == question)
        (expected,) = await pipeline.route([asked], pipeline.options(k=3), {})
    finally:
        await runtime.close()
    assert response.json()["assignment"]["chosen"] == list(expected.chosen)


async def test_a_batch_is_queued_answered_by_the_worker_and_read_back(
    replay_server: str, replay_suite: ReplaySuite
) -> None:
    asked = replay_suite.questions()[10:16]
    lines = [{"id": q.id, "question": q.question, "gold_answer": q.gold_answer} for q in asked]
    upload = "\n".join(json.dumps(line) for line in lines).encode()
    async with httpx.AsyncClient(base_url=replay_server) as http:
        created = await http.post(
            "/v1/batches", files={"file": ("q.jsonl", upload, "application/jsonl")}, data={"k": "2"}
        )
        assert created.status_code == 200, created.text
        batch_id = created.json()["id"]
        assert created.json()["status"] != "completed"

        stats = await replay_suite.run_worker()

        batch = (await http.get(f"/v1/batches/{batch_id}")).json()
        results = (await http.get(f"/v1/batches/{batch_id}/results")).text.splitlines()
    assert stats.answered >= len(asked)
    assert batch["status"] == "completed"
    assert batch["request_counts"] == {"total": 6, "completed": 6, "failed": 0}
    records = [json.loads(line) for line in results]
    assert [r["id"] for r in records] == [q.id for q in asked]
    for record in records:
        expected = await answered_here(replay_suite, record["question"])
        assert record["routing"]["chosen"] == list(expected.assignment.chosen)
        assert record["final"]["text"] == expected.aggregate.text
        assert record["correct"] == expected.correct
