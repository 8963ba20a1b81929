"""The SSE framing: pieces, the first and last chunks, an error after the stream started; an
escalating team's stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from router_svc.aggregation.escalation import escalates
from router_svc.api.metrics import Metrics
from router_svc.api.state import Services, build_services
from router_svc.api.streaming import DONE, RoutedStream, events, text_pieces
from router_svc.errors import BackendError
from router_svc.pipeline import Pipeline
from router_svc.questions.grading import question_kind
from router_svc.replay.engine import recorded_text
from router_svc.routing.recruiter import Assignment
from router_svc.types import Question
from tests.support import ReplaySuite


@pytest.mark.parametrize("text", ["", "one", "The answer is 42.", "  spaced\n\nout  text "])
def test_pieces_rebuild_the_text(text: str) -> None:
    assert "".join(text_pieces(text)) == text


async def collect(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [event async for event in stream]


def payloads(raw: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for event in raw:
        assert event.startswith(b"data: ") and event.endswith(b"\n\n")
        body = event[len(b"data: ") : -2]
        out.append(body.decode() if body == b"[DONE]" else json.loads(body))
    return out


async def test_a_stream_has_role_pieces_finish_and_done() -> None:
    async def pieces() -> AsyncIterator[str]:
        for piece in ("Hel", "lo"):
            yield piece

    async def finish() -> dict[str, Any]:
        return {"usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}

    raw = await collect(events("m", {"expert": "e"}, pieces(), finish))
    first, *middle, last, done = payloads(raw)

    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert first["router"] == {"expert": "e"}
    assert [m["choices"][0]["delta"]["content"] for m in middle] == ["Hel", "lo"]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["usage"]["total_tokens"] == 3
    assert done == "[DONE]" and raw[-1] == DONE
    assert len({chunk["id"] for chunk in (first, *middle, last)}) == 1


async def test_a_failure_mid_stream_becomes_an_error_event() -> None:
    async def pieces() -> AsyncIterator[str]:
        yield "partial"
        raise BackendError("expert 'e': llama.cpp failed: boom", expert="e")

    async def finish() -> dict[str, Any]:
        raise AssertionError("not reached")

    *_, error, done = payloads(await collect(events("m", {}, pieces(), finish)))
    assert error["error"]["code"] == "backend_error"
    assert "boom" in error["error"]["message"]
    assert done == "[DONE]"


# --- an escalating team streamed, over the recorded pool (replay engine, no model) -----------

PAIR, THIRD = ["bolt-8b", "cedar-32b"], "ember-14b"
SUITE = "replay_small"


async def streamed(
    services: Services, pipeline: Pipeline, question: Question
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The text, the first chunk's ``router`` and the last chunk's fields of one answer."""
    team = Assignment(question.id, [], [], [], PAIR, False, escalate_to=THIRD)
    stream = RoutedStream(services, pipeline, question, team)
    timings: dict[str, float] = {}
    await stream.prepare(timings)
    text = "".join([piece async for piece in await stream.pieces()])
    first = stream.first_router(SUITE)
    return text, first, await stream.finish(SUITE, timings)


async def test_an_escalating_pair_streams_its_third_expert_where_it_disagrees(
    replay_suite: ReplaySuite,
) -> None:
    data = replay_suite.data
    services = build_services(replay_suite.settings, Metrics())
    try:
        pipeline = await services.pipeline(replay_suite.suite)
        questions = replay_suite.questions()[:20]
        pair = [Assignment(q.id, [], [], [], PAIR, False) for q in questions]
        answers = await pipeline.run_experts(questions, pair, {})
        split = {escalates(answers[q.id], question_kind(q.question)): q for q in questions}
        disagreeing, agreeing = split[True], split[False]
        text, first, last = await streamed(services, pipeline, disagreeing)
        same_text, same_first, same_last = await streamed(services, pipeline, agreeing)
    finally:
        await services.close()
    row = data.row_of(disagreeing.question)
    assert row is not None
    assert text == recorded_text(data, row, data.experts.index(THIRD))
    assert first["streaming"] == {"stage": "escalate", "expert": THIRD}
    assert first["assignment"]["escalate_to"] == THIRD
    router = last["router"]
    assert router["aggregation"]["method"] == "escalated"
    assert router["aggregation"]["aggregator"] == THIRD
    assert router["aggregation"]["reason"].endswith(f"; {THIRD} answered")
    assert same_first["streaming"] == {"stage": "replay", "expert": None}
    assert same_text == same_first["experts"][0]["text"]
    assert same_last["router"]["aggregation"]["method"] == "unanimous"
    assert same_last["router"]["aggregation"]["aggregator"] is None  # nothing ran after the pair
