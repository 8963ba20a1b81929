"""``POST /v1/route``: the routing decision alone, and the routing helpers chat shares.

The decision is the recruiter's explainable ``Assignment``: the question's tags, the skills they
mapped to, every expert's score and the chosen ones (``fallback`` when no skill decided).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from router_svc.aggregation.aggregator import Aggregate, ExpertAnswer
from router_svc.api.errors import HTTPError, invalid, too_long
from router_svc.api.metrics import Metrics
from router_svc.api.schemas import (
    ROUTER_MODEL,
    ExpertModel,
    RouteRequest,
    RoutingFields,
    checked_text,
    parse_model,
    question_of,
    unknown_fields,
)
from router_svc.api.state import Services, ServicesDep, current_request_id
from router_svc.errors import unknown_message
from router_svc.pipeline import Pipeline, QuestionResult, RouteOptions
from router_svc.routing.recruiter import Assignment
from router_svc.types import Completion, Question

logger = logging.getLogger(__name__)

router = APIRouter(tags=["routing"])


def log_unknown_fields(body: RoutingFields) -> None:
    fields = unknown_fields(body)
    if fields:
        logger.warning("ignoring unknown request fields: %s", ", ".join(fields))


def check_suite(services: Services, suite: str | None, param: str) -> str:
    """The served suite ``suite`` names (None: the default); 404/400 naming the served ones."""
    if suite is None:
        return services.default_suite
    if suite in services.suites:
        return suite
    if param == "model":
        known = [ROUTER_MODEL, *(f"{ROUTER_MODEL}:{s}" for s in services.suites)]
        message = unknown_message("model", f"{ROUTER_MODEL}:{suite}", known + services.experts)
        raise HTTPError(404, message, code="model_not_found", param="model")
    raise invalid(unknown_message("suite", suite, services.suites), param, "unknown_suite")


def route_options(services: Services, pipeline: Pipeline, fields: RoutingFields) -> RouteOptions:
    """The request's knobs, checked against the server's limits and the suite's experts."""
    available = len(pipeline.recruiter.matrix.experts)
    max_k = services.settings.max_k
    if fields.k is not None and fields.k > max_k:
        message = f"k must be at most {max_k} (ROUTER_SVC_MAX_K); got {fields.k}"
        raise invalid(message, "k", "invalid_k")
    if fields.k is not None and fields.k > available:
        message = f"k must be at most {available}, the experts this suite can recruit; got "
        raise invalid(message + str(fields.k), "k", "invalid_k")
    if fields.tagger is not None and fields.tagger not in pipeline.taggers:
        message = unknown_message("tagger", fields.tagger, pipeline.taggers)
        raise invalid(message, "tagger", "unknown_tagger")
    return RouteOptions(
        k=fields.k or min(services.runtime.pool.k, available, max_k),
        mode=fields.mode or "top_k",
        cost_weight=fields.cost_weight or 0.0,
        seed=fields.seed or 0,
        tagger=fields.tagger,
    )


def _ascii(value: str) -> str:
    return value.encode("ascii", "replace").decode("ascii").replace("\n", " ")


def router_headers(
    suite: str, assignment: Assignment, timings: Mapping[str, float]
) -> dict[str, str]:
    """The x-router-* headers: suite, chosen experts, mapped skills, stage timings."""
    skills = dict.fromkeys(match.skill for match in assignment.skills)
    return {
        "x-router-suite": _ascii(suite),
        "x-router-experts": _ascii(",".join(assignment.chosen)),
        "x-router-skills": _ascii(",".join(skills)),
        "x-router-timings": timings_header(timings),
    }


def timings_header(timings: Mapping[str, float]) -> str:
    """'tag=0.010;route=0.020;experts=1.300;aggregate=0.800'."""
    return ";".join(f"{stage}={seconds:.3f}" for stage, seconds in timings.items())


def router_info(suite: str, record: dict[str, Any]) -> dict[str, Any]:
    """The ``router`` field from a result record (run_file.result_record): the assignment,
    each expert's answer, how the final answer was reached, the stage timings."""
    final = record["final"]
    return {
        "suite": suite,
        "assignment": record["routing"],
        "experts": record["experts"],
        "aggregation": {
            "method": final["method"],
            "aggregator": final["aggregator"],
            "answer": final["answer"],
        },
        "timings": record["timings"],
    }


def check_answered(answers: list[ExpertAnswer], aggregate: Aggregate) -> None:
    """502 (504 if they all timed out) when no recruited expert produced an answer."""
    if aggregate.method != "none" or not answers:
        return
    errors = [f"{a.expert}: {a.error or 'empty answer'}" for a in answers]
    timeouts = all((a.error or "").startswith("BackendTimeout") for a in answers)
    message = "every recruited expert failed: " + "; ".join(errors)
    if all(too_long(a.error or "") for a in answers):
        raise HTTPError(400, message, code="context_length_exceeded", param="messages")
    if timeouts:
        raise HTTPError(504, message, type="server_error", code="backend_timeout")
    raise HTTPError(502, message, type="server_error", code="backend_error")


def observe(metrics: Metrics, result: QuestionResult, live: Completion | None = None) -> None:
    """Stage timings, selections, tokens and cache hits of one answered question; ``live`` is
    a streamed completion (it never went through the cache)."""
    metrics.observe_stages(result.timings)
    metrics.count_selections(result.assignment.chosen)
    completions = [answer.completion for answer in result.answers]
    completions.append(result.aggregate.completion)
    for completion in completions:
        if completion is live and live is not None:
            metrics.count_tokens(live.expert, live.prompt_tokens, live.completion_tokens)
        elif completion is not None:
            metrics.count_completion(completion, "pipeline")


def _route_suite(services: Services, body: RouteRequest) -> str:
    if body.model is not None and body.suite is not None:
        raise invalid("give suite or model, not both", "suite")
    if body.model is None:
        return check_suite(services, body.suite, "suite")
    target = parse_model(body.model)
    if isinstance(target, ExpertModel):
        message = f"model {body.model!r} is an expert; route with 'router-svc[:<suite>]'"
        raise invalid(message, "model")
    return check_suite(services, target.suite, "model")


def _route_question(services: Services, body: RouteRequest) -> str:
    if (body.question is None) == (body.messages is None):
        raise invalid("give exactly one of question or messages", "question")
    if body.question is not None:
        if not body.question.strip():
            raise invalid("question is empty", "question")
        return checked_text(body.question.strip(), "question")
    messages = body.messages or []
    if len(messages) > services.settings.max_messages:
        limit = services.settings.max_messages
        raise invalid(f"messages has {len(messages)} items; at most {limit} allowed", "messages")
    return question_of(messages)


@router.post("/v1/route")
async def route(body: RouteRequest, services: ServicesDep) -> JSONResponse:
    """Tag the question, map the tags to skills and recruit experts; nothing is generated."""
    log_unknown_fields(body)
    suite = _route_suite(services, body)
    question = _route_question(services, body)
    pipeline = await services.pipeline(suite)
    options = route_options(services, pipeline, body)
    timings: dict[str, float] = {}
    (assignment,) = await pipeline.route(
        [Question(current_request_id(), question)], options, timings
    )
    services.metrics.observe_stages(timings)
    payload: dict[str, Any] = {
        "suite": suite,
        "question": question,
        "options": {"k": options.k, "mode": options.mode, "cost_weight": options.cost_weight},
        "tagger": pipeline.tagger(options.tagger).name,
        "assignment": assignment.to_json(),
        "timings": {stage: round(seconds, 4) for stage, seconds in timings.items()},
    }
    return JSONResponse(payload, headers=router_headers(suite, assignment, timings))
