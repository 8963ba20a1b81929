"""The API over a recorded pool (replay engine, no model): a real uvicorn server called with the
real ``openai`` client and httpx. Every answer is checked against the file it was recorded in,
through the same pipeline in this process."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
import pytest_asyncio

from router_svc.api.app import create_app
from router_svc.assembly import Runtime, build_pipeline
from router_svc.batch.worker import WorkerOptions
from router_svc.cli.worker import serve_worker
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings
from router_svc.results import QuestionResult
from tests.support import (
    REDIS_URL,
    ReplaySuite,
    drop_redis_prefix,
    redis_env,
    serve_in_thread,
)

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


@pytest.fixture(params=["sqlite", "redis"])
def batch_server(
    request: pytest.FixtureRequest, replay_suite: ReplaySuite
) -> Iterator[tuple[str, Settings]]:
    """The recorded pool's server on either store: its URL and settings (a worker's too)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("replay_server"), replay_suite.settings
        return
    prefix = redis_env("replay-batches")["ROUTER_SVC_REDIS_PREFIX"]
    update = {"redis_url": REDIS_URL, "redis_prefix": prefix}
    settings = replay_suite.settings.model_copy(update=update)
    try:
        with serve_in_thread(create_app(settings)) as url:
            yield url, settings
    finally:
        drop_redis_prefix(prefix)


async def run_worker(settings: Settings, suite: str) -> None:
    runtime = Runtime.create(settings, load_pool(settings.config_path), use_cache=True)
    options = WorkerOptions(consumer="deleting", default_suite=suite, block_ms=0, once=True)
    await serve_worker(runtime, options)


async def test_a_finished_batch_is_deleted_with_its_results(
    batch_server: tuple[str, Settings], replay_suite: ReplaySuite
) -> None:
    url, settings = batch_server
    asked = replay_suite.questions()[16:18]
    upload = "".join(json.dumps({"id": q.id, "question": q.question}) + "\n" for q in asked)
    files = {"file": ("q.jsonl", upload.encode(), "application/jsonl")}
    async with httpx.AsyncClient(base_url=url) as http:
        batch_id = (await http.post("/v1/batches", files=files)).json()["id"]
        await run_worker(settings, replay_suite.suite)
        before = await http.get(f"/v1/batches/{batch_id}/results")
        deleted = await http.delete(f"/v1/batches/{batch_id}")
        after = [
            await http.request(method, path)
            for method, path in [
                ("GET", f"/v1/batches/{batch_id}"),
                ("GET", f"/v1/batches/{batch_id}/results"),
                ("POST", f"/v1/batches/{batch_id}/cancel"),
                ("DELETE", f"/v1/batches/{batch_id}"),
            ]
        ]

    assert len(before.text.splitlines()) == 2
    assert (deleted.status_code, deleted.json()) == (
        200,
        {"id": batch_id, "object": "batch.deleted", "deleted": True},
    )
    assert [(r.status_code, r.json()["error"]["code"]) for r in after] == [
        (404, "job_not_found")
    ] * 4


async def queue_depth(settings: Settings) -> int:
    runtime = Runtime.create(settings, load_pool(settings.config_path))
    try:
        return await runtime.store.jobs.depth()
    finally:
        await runtime.close()


async def test_a_queued_batch_is_deleted_with_its_questions(
    batch_server: tuple[str, Settings], replay_suite: ReplaySuite
) -> None:
    url, settings = batch_server
    asked = replay_suite.questions()[18:21]
    upload = "".join(json.dumps({"id": q.id, "question": q.question}) + "\n" for q in asked)
    before = await queue_depth(settings)
    async with httpx.AsyncClient(base_url=url) as http:
        headers = {"content-type": "application/jsonl"}
        batch_id = (await http.post("/v1/batches", content=upload, headers=headers)).json()["id"]
        queued = await queue_depth(settings)
        deleted = await http.delete(f"/v1/batches/{batch_id}")
        status = (await http.get(f"/v1/batches/{batch_id}")).status_code

    assert deleted.json() == {"id": batch_id, "object": "batch.deleted", "deleted": True}
    assert (queued, await queue_depth(settings)) == (before + 3, before)
    assert status == 404


async def test_a_cost_weight_sends_a_question_to_an_escalating_team_end_to_end(
    client: openai.AsyncOpenAI, replay_suite: ReplaySuite
) -> None:
    """The default router, fitted on the recorded profile (its answers read from the recorded
    responses), gives some question an escalating team at some cost weight; the server routes
    it so and runs it: the pair's recorded answers, then the strong expert only where they
    differ."""
    runtime = replay_suite.runtime()
    try:
        pipeline = build_pipeline(runtime, replay_suite.suite)
        questions = replay_suite.questions()
        found = None
        for weight in (0.02, 0.05, 0.1, 0.2, 0.5, 1.0):
            options = pipeline.options(k=1, cost_weight=weight)
            for asked, routed in zip(
                questions, await pipeline.route(questions, options, {}), strict=True
            ):
                if routed.escalate_to is not None:
                    found = (weight, asked, routed)
                    break
            if found:
                break
    finally:
        await runtime.close()
    assert found is not None, "no cost weight gave any question an escalating team"
    weight, asked, routed = found
    assert routed.option is not None and len(routed.chosen) == 2
    assert routed.option.expert == f"{routed.chosen[0]} + {routed.chosen[1]} > {routed.escalate_to}"

    raw = await client.chat.completions.with_raw_response.create(
        model=SUITE_MODEL, messages=ask(asked.question), extra_body={"k": 1, "cost_weight": weight}
    )
    router = (raw.parse().model_extra or {})["router"]
    assert router["assignment"]["chosen"] == routed.chosen
    assert router["assignment"]["escalate_to"] == routed.escalate_to
    assert raw.headers["x-router-escalate-to"] == routed.escalate_to
    team = routed.option.expert  # the team was chosen on its own estimate, and named so
    assert raw.headers["x-router-probabilities"] == f"{team}={routed.option.probability:.3f}"
    assert raw.headers["x-router-cost-penalty"] == f"{team}={routed.option.cost_penalty:.3f}"
    stated = [e["answer"] for e in router["experts"]]
    assert [e["expert"] for e in router["experts"]] == routed.chosen
    agreed = stated[0] is not None and stated[0] == stated[1]
    assert router["aggregation"]["method"] == ("unanimous" if agreed else "escalated")
    assert raw.headers["x-router-escalated"] == ("false" if agreed else "true")
