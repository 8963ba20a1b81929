"""Server-sent events in OpenAI's ``chat.completion.chunk`` format.

A stream is: a first chunk with the assistant role and the ``router`` explanation, one chunk per
text piece, a last chunk with the finish reason and the ``usage``, then ``data: [DONE]``. An
error after the first byte cannot change the status any more: it is sent as an event holding
OpenAI's error envelope (the ``openai`` client raises it), followed by ``[DONE]``.

Live text comes from ``engine.stream_completion`` with the model pinned in the ModelManager;
the engine tells the generation's completion when it ends, so a stream's usage and
finish_reason are those of the same generation unstreamed (llama.cpp counts them exactly; an
engine that only streams text has them estimated, ``router.usage_estimated``). A client that
leaves mid-stream stops the generation at its next token, and its tokens are still counted.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import StreamingResponse

from router_svc.aggregation.aggregator import Aggregate, ExpertAnswer
from router_svc.api.errors import HTTPError, error_body
from router_svc.api.metrics import Metrics
from router_svc.api.schemas import chunk_body, new_id
from router_svc.api.service import check_answered, observe, routed_usage, router_info
from router_svc.api.state import Services
from router_svc.execution.models import ModelManager
from router_svc.execution.plan import Task, TaskKey
from router_svc.execution.runner import TaskResult
from router_svc.pipeline import Pipeline, expert_tasks
from router_svc.results import QuestionResult, answer_json
from router_svc.routing.recruiter import Assignment
from router_svc.types import Completion, GenerationRequest, Question

logger = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"
_PIECES = re.compile(r"\s*\S+\s*|\s+")


def sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def text_pieces(text: str) -> list[str]:
    """A finished text split into word-sized pieces, to stream an answer already known."""
    return _PIECES.findall(text)


@dataclass
class Streamed:
    """A live generation: its completion once it ended (also when its client left first),
    counted in ``metrics`` then."""

    expert: str
    metrics: Metrics | None = None
    result: Completion | None = None
    estimated: bool = False
    """Whether the engine estimated the token counts (it streams text only)."""

    def done(self, completion: Completion) -> None:
        self.result = completion
        if self.metrics is not None:
            prompt, generated = completion.prompt_tokens, completion.completion_tokens
            self.metrics.count_tokens(self.expert, prompt, generated)

    def completion(self) -> Completion:
        if self.result is None:
            raise HTTPError(500, "the stream ended without its completion", type="server_error")
        return self.result


async def generate_live(
    models: ModelManager, expert: str, request: GenerationRequest, out: Streamed
) -> AsyncIterator[str]:
    """Stream one generation; ``out`` gets its completion when it ends."""
    engine = await models.acquire(expert)
    out.estimated = not engine.exact_stream_usage
    with models.pinned(expert):
        async for piece in engine.stream_completion(request, out.done):
            yield piece


async def primed(pieces: AsyncIterator[str]) -> AsyncIterator[str]:
    """``pieces`` with its first piece already produced, so that whatever fails before it (a
    prompt too long for the model, a backend down) fails before the response starts."""
    try:
        first = await anext(pieces)
    except StopAsyncIteration:
        return replay("")

    async def rest() -> AsyncIterator[str]:
        yield first
        async for piece in pieces:
            yield piece

    return rest()


async def replay(text: str) -> AsyncIterator[str]:
    """A finished answer as a stream of pieces."""
    for piece in text_pieces(text):
        yield piece


Finisher = Callable[[], Awaitable[dict[str, Any]]]
"""Called after the last piece; returns the last chunk's extra fields (usage, router) and its
``finish_reason``."""


async def events(
    model: str, router: dict[str, Any], pieces: AsyncIterator[str], finish: Finisher
) -> AsyncIterator[bytes]:
    """The SSE byte stream of one answer."""
    chunk_id = new_id()
    yield sse(chunk_body(chunk_id, model, {"role": "assistant", "content": ""}, router=router))
    try:
        async for piece in pieces:
            yield sse(chunk_body(chunk_id, model, {"content": piece}))
        extra = await finish()
    except Exception as exc:
        logger.warning("stream failed after it started: %s", exc)
        yield sse(error_body(exc).envelope())
        yield DONE
        return
    reason = extra.pop("finish_reason", "stop")
    yield sse(chunk_body(chunk_id, model, {}, reason, **extra))
    yield DONE


def sse_response(stream: AsyncIterator[bytes], headers: dict[str, str]) -> StreamingResponse:
    headers = {**headers, "cache-control": "no-cache", "x-accel-buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


class RoutedStream:
    """One streamed answer of the router: the experts run first, then the final text streams.

    The stages are the pipeline's own (``run_experts``, ``aggregation_task``, ``settle``); only
    the last generation runs here, live. With one recruited expert, its generation streams.
    Otherwise the aggregator's does (an escalating team's third expert's, where the pair
    disagreed); when neither is needed (unanimous answers, one usable answer) the settled
    answer is replayed in pieces. Everything that can fail before the first byte (routing, the
    experts, loading the streaming model) runs in ``prepare``, so it fails with a status code.
    """

    def __init__(
        self,
        services: Services,
        pipeline: Pipeline,
        question: Question,
        assignment: Assignment,
        max_tokens: int | None = None,
    ) -> None:
        self.services = services
        self.pipeline = pipeline
        self.max_tokens = max_tokens
        self.question = question
        self.assignment = assignment
        self.answers: list[ExpertAnswer] = []
        self.live: Task | None = None
        self.streamed: Streamed | None = None
        self.settled: Aggregate | None = None

    async def prepare(self, timings: dict[str, float]) -> None:
        """Run the experts (unless the only one streams live) and decide what streams."""
        question, pipeline, cap = self.question, self.pipeline, self.max_tokens
        generations = expert_tasks(question, self.assignment, cap)
        if len(generations) == 1:
            self.live = generations[0]
        else:
            answers = await pipeline.run_experts(
                [question], [self.assignment], timings, max_tokens=cap
            )
            self.answers = answers[question.id]
            self.live = pipeline.aggregation_task(question, self.answers, cap, self.assignment)
            if self.live is None:
                self.settled = pipeline.settle(question, self.answers, None, self.assignment)
                check_answered(self.answers, self.settled)
        if self.live is not None:
            await self.services.runtime.models.acquire(self.live.expert)
            self.streamed = Streamed(self.live.expert, self.services.metrics)

    async def pieces(self) -> AsyncIterator[str]:
        """The final text's pieces, the first one already generated (see ``primed``)."""
        if self.live is None or self.streamed is None:
            return replay(self.settled.text if self.settled else "")
        models = self.services.runtime.models
        return await primed(
            generate_live(models, self.live.expert, self.live.request, self.streamed)
        )

    def first_router(self, suite: str) -> dict[str, Any]:
        """The first chunk's ``router``: the decision and the experts' answers so far."""
        if self.live is None:
            streaming: dict[str, Any] = {"stage": "replay", "expert": None}
        else:
            stage = _stage(self.live) if self.answers else "expert"
            streaming = {"stage": stage, "expert": self.live.expert}
        return {
            "suite": suite,
            "assignment": self.assignment.to_json(),
            "experts": [_answer_json(answer) for answer in self.answers],
            "streaming": streaming,
        }

    async def finish(self, suite: str, timings: dict[str, float]) -> dict[str, Any]:
        """The last chunk's fields: the usage of every token spent and the settled answer."""
        live = self.streamed.completion() if self.streamed is not None else None
        result = self._result(live, timings)
        observe(self.services.metrics, result, live)
        info = router_info(suite, result)
        info["usage_estimated"] = self.streamed is not None and self.streamed.estimated
        reason = result.aggregate.finish_reason
        return {"usage": routed_usage(result), "router": info, "finish_reason": reason}

    def _result(self, live: Completion | None, timings: dict[str, float]) -> QuestionResult:
        answers, aggregate, pipeline = self.answers, self.settled, self.pipeline
        if self.live is not None and live is not None:
            done = TaskResult(self.live, live)
            if self.answers:
                timings["aggregate"] = live.seconds
                aggregate = pipeline.settle(self.question, answers, done, self.assignment)
            else:
                timings["experts"] = live.seconds
                answers = pipeline.expert_answers([self.question], [done])[self.question.id]
                aggregate = pipeline.settle(self.question, answers, None, self.assignment)
        if aggregate is None:
            raise HTTPError(500, "the stream ended without an answer", type="server_error")
        return QuestionResult(self.question, self.assignment, answers, aggregate, timings)


def _stage(task: Task) -> str:
    """The stage that streams after the experts: ``aggregate``, or ``escalate`` (an escalating
    team's third expert, where the pair disagreed)."""
    if isinstance(task.key, TaskKey) and task.key.role == "escalate":
        return "escalate"
    return "aggregate"


_STREAMED = ("expert", "text", "answer", "error", "failure", "cached")
"""What the first chunk tells of each expert's answer (its tokens come in the last)."""


def _answer_json(answer: ExpertAnswer) -> dict[str, Any]:
    record = answer_json(answer)
    return {key: record[key] for key in _STREAMED}
