"""``POST /v1/feedback``: a grade for an answer the service gave; ``GET`` lists, ``DELETE`` drops.

The answer is named by its completion ``id``. A ``score`` in [0, 1] (or ``thumbs``: up is 1,
down is 0) goes to the experts that settled the answer (those whose answer is the final one;
every expert that ran when none stated one); ``scores`` grades each expert's answer instead.
Unknown or expired ids are 404 (``feedback_target_not_found``), a second grade of one answer
409 (``feedback_exists``), a score out of range 400 naming the field. The grade joins the
suite's feedback log (``store.feedback``), which every process's default router follows
(``routing.feedback``). Answers are kept for ``ROUTER_SVC_FEEDBACK_CONTEXT_TTL_S``.
"""

from __future__ import annotations

import json
import logging
from typing import Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from router_svc.api.errors import HTTPError, invalid
from router_svc.api.service import check_suite
from router_svc.api.state import Services, ServicesDep
from router_svc.results import QuestionResult
from router_svc.store.feedback import AnsweredContext, FeedbackRecord, FeedbackStore

logger = logging.getLogger(__name__)
router = APIRouter(tags=["feedback"])


class FeedbackRequest(BaseModel):
    """A grade for one answer: exactly one of ``score``, ``thumbs`` or ``scores``."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="The completion's id (chatcmpl-...).", min_length=1)
    score: float | None = Field(None, ge=0.0, le=1.0, description="The answer's grade, 0 to 1.")
    thumbs: Literal["up", "down"] | None = Field(None, description="up (1) or down (0).")
    scores: dict[str, float] | None = Field(
        None, description="Each expert's answer graded on its own, 0 to 1."
    )


def _store(services: Services) -> FeedbackStore:
    store = services.store.feedback
    if store is None:
        raise HTTPError(501, "this server keeps no feedback store", code="feedback_unavailable")
    return store


def _grades(body: FeedbackRequest, context: AnsweredContext) -> dict[str, float]:
    given = [v is not None for v in (body.score, body.thumbs, body.scores)]
    if sum(given) != 1:
        raise invalid("give exactly one of score, thumbs or scores", "score")
    if body.scores is not None:
        unknown = sorted(set(body.scores) - set(context.experts))
        if unknown:
            message = f"experts {unknown} did not answer {body.id}; they were {context.experts}"
            raise invalid(message, "scores")
        for expert, score in body.scores.items():
            if not 0.0 <= score <= 1.0:
                raise invalid(f"scores[{expert!r}] must be in [0, 1], got {score}", "scores")
        return dict(body.scores)
    score = body.score if body.score is not None else float(body.thumbs == "up")
    return dict.fromkeys(context.settled, score)


@router.post("/v1/feedback")
async def post_feedback(body: FeedbackRequest, services: ServicesDep) -> JSONResponse:
    """Grade an answer the service gave."""
    store = _store(services)
    context = await store.context(body.id)
    if context is None:
        message = f"no answer {body.id!r} is kept (unknown, or older than the context TTL)"
        raise HTTPError(404, message, code="feedback_target_not_found", param="id")
    scores = _grades(body, context)
    record = FeedbackRecord(body.id, context.suite, context.question, context.tags, scores)
    if not await store.add(record):
        raise HTTPError(409, f"{body.id!r} was graded already", code="feedback_exists", param="id")
    return JSONResponse({"object": "feedback", **record.to_dict()})


@router.get("/v1/feedback")
async def list_feedback(services: ServicesDep, suite: str | None = None) -> JSONResponse:
    """Every graded answer of a suite (default: the default suite), oldest first."""
    served = check_suite(services, suite, "suite")
    page = await _store(services).since(served)
    data = [{"object": "feedback", **r.to_dict()} for r in page.records]
    return JSONResponse({"object": "list", "data": data})


@router.delete("/v1/feedback")
async def drop_feedback(services: ServicesDep, suite: str | None = None) -> JSONResponse:
    """Forget a suite's graded answers; every process's router forgets them before its next
    route."""
    served = check_suite(services, suite, "suite")
    dropped = await _store(services).drop(served)
    return JSONResponse({"object": "feedback.dropped", "suite": served, "dropped": dropped})


async def keep_answer(
    services: Services, suite: str, result: QuestionResult, response: Response
) -> None:
    """Keep what a grade of this routed answer will need (its id is the response's)."""
    store = services.store.feedback
    if store is None:
        return
    completion_id = str(json.loads(bytes(response.body))["id"])
    await store.remember(context_of(completion_id, suite, result))


def context_of(completion_id: str, suite: str, result: QuestionResult) -> AnsweredContext:
    answers = {a.expert: a.text or "" for a in result.answers}
    final = result.aggregate.answer
    settled = [a.expert for a in result.answers if final is not None and a.answer == final]
    return AnsweredContext(
        completion_id,
        suite,
        result.question.question,
        list(result.assignment.tags),
        list(result.assignment.chosen),
        answers,
        settled=settled or list(result.assignment.chosen),
    )
