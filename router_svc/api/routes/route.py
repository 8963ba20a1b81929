"""``POST /v1/route``: the routing decision alone.

The decision is the recruiter's explainable ``Assignment``: the question's tags, the skills they
mapped to, every expert's score and the chosen ones (``fallback`` when no skill decided).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from router_svc.api.body import JSONBodyRoute
from router_svc.api.errors import invalid
from router_svc.api.schemas import (
    ExpertModel,
    RouteRequest,
    checked_text,
    parse_model,
    question_of,
    refuse_tools,
)
from router_svc.api.service import check_messages, log_unknown_fields, routed_call, router_headers
from router_svc.api.state import Services, ServicesDep, current_request_id
from router_svc.types import Question

router = APIRouter(tags=["routing"], route_class=JSONBodyRoute)


def _route_suite(body: RouteRequest) -> tuple[str | None, str]:
    """The suite the body names (None: the default) and the field that named it."""
    if body.model is not None and body.suite is not None:
        raise invalid("give suite or model, not both", "suite")
    if body.model is None:
        return body.suite, "suite"
    target = parse_model(body.model)
    if isinstance(target, ExpertModel):
        message = f"model {body.model!r} is an expert; route with 'router-svc[:<suite>]'"
        raise invalid(message, "model")
    return target.suite, "model"


def _route_question(services: Services, body: RouteRequest) -> str:
    if (body.question is None) == (body.messages is None):
        raise invalid("give exactly one of question or messages", "question")
    if body.question is not None:
        return checked_text(body.question.strip(), "question")
    messages = body.messages or []
    check_messages(services, messages)
    return question_of(messages)


@router.post("/v1/route")
async def route(body: RouteRequest, services: ServicesDep) -> JSONResponse:
    """Tag the question, map the tags to skills and recruit experts; nothing is generated."""
    log_unknown_fields(body)
    refuse_tools(body, body.messages)
    suite, param = _route_suite(body)
    question = _route_question(services, body)
    call = await routed_call(services, suite, body, param)
    timings: dict[str, float] = {}
    (assignment,) = await call.pipeline.route(
        [Question(current_request_id(), question)], call.options, timings
    )
    services.metrics.observe_stages(timings)
    options = call.options
    payload: dict[str, Any] = {
        "suite": call.suite,
        "question": question,
        "options": options.knobs().model_dump(),
        "tagger": call.pipeline.tagger(options.tagger).name,
        "assignment": assignment.to_json(),
        "timings": {stage: round(seconds, 4) for stage, seconds in timings.items()},
    }
    return JSONResponse(payload, headers=router_headers(call.suite, assignment, timings))
