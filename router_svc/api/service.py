"""What the routes share: a request's suite and routing options, the answer's headers and
``router`` field, the checks and metrics of an answered question.

A routed request reads top-down in its handler: parse (``routed_call``) -> route -> run ->
render (``router_headers``, ``router_info``); these helpers hold no route of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from router_svc.aggregation.aggregator import Aggregate, ExpertAnswer
from router_svc.api.errors import HTTPError, failure_body, invalid
from router_svc.api.metrics import Metrics
from router_svc.api.schemas import (
    ROUTER_MODEL,
    RoutingFields,
    completion_usage,
    unknown_fields,
    usage_body,
)
from router_svc.api.state import Services
from router_svc.config.knobs import TAGGERS, RoutingKnobs
from router_svc.errors import FailureKind, RoutingError, unknown_message
from router_svc.pipeline import Pipeline, RouteOptions
from router_svc.results import QuestionResult
from router_svc.routing.recruiter import Assignment, ExpertScore
from router_svc.types import Completion, Question

logger = logging.getLogger(__name__)


def log_unknown_fields(body: RoutingFields) -> None:
    fields = unknown_fields(body)
    if fields:
        logger.warning("ignoring unknown request fields: %s", ", ".join(fields))


def router_ids(services: Services) -> list[str]:
    """'router-svc' and 'router-svc:<suite>' for every served suite."""
    return [ROUTER_MODEL, *(f"{ROUTER_MODEL}:{suite}" for suite in services.suites)]


def model_ids(services: Services) -> list[str]:
    """Every value the ``model`` field accepts."""
    return router_ids(services) + services.experts


def check_suite(services: Services, suite: str | None, param: str) -> str:
    """The served suite ``suite`` names (None: the default); 404/400 naming the served ones."""
    if suite is None:
        return services.default_suite
    if suite in services.suites:
        return suite
    if param == "model":
        message = unknown_message("model", f"{ROUTER_MODEL}:{suite}", model_ids(services))
        raise HTTPError(404, message, code="model_not_found", param="model")
    raise invalid(unknown_message("suite", suite, services.suites), param, "unknown_suite")


@dataclass(frozen=True)
class KnobLimits:
    """What this server allows of the knobs beyond their own bounds (the served OpenAPI
    document publishes the same): the largest k, the taggers its pool has."""

    max_k: int
    taggers: list[str]

    @classmethod
    def of(cls, services: Services) -> KnobLimits:
        pool = services.runtime.pool
        routable = sum(1 for expert in pool.experts if expert.routable)
        taggers = [t for t in TAGGERS if t != "llm" or pool.tagger.expert is not None]
        return cls(min(services.settings.max_k, routable), taggers)

    def check(self, knobs: RoutingKnobs) -> None:
        """400 for a k or a tagger past the limits, on every request (a direct call too, which
        does not use them: the document is the same for both)."""
        if isinstance(knobs.k, int) and knobs.k > self.max_k:
            message = (
                f"k must be at most {self.max_k} (ROUTER_SVC_MAX_K, and the pool's routable "
                f"experts); got {knobs.k}"
            )
            raise invalid(message, "k", "invalid_k")
        if knobs.tagger is not None and knobs.tagger not in self.taggers:
            message = unknown_message("tagger", knobs.tagger, self.taggers)
            raise invalid(message, "tagger", "unknown_tagger")


def route_options(
    services: Services, pipeline: Pipeline, knobs: RoutingKnobs, max_tokens: int | None = None
) -> RouteOptions:
    """The request's knobs (checked when the body was read), checked against the server's
    limits and the suite's experts; ``max_tokens`` limits every generation the request runs."""
    KnobLimits.of(services).check(knobs)
    try:
        return pipeline.options(knobs, limit=services.settings.max_k, max_tokens=max_tokens)
    except RoutingError as exc:
        raise invalid(str(exc), "k", "invalid_k") from exc


def _ascii(value: str) -> str:
    return value.encode("ascii", "replace").decode("ascii").replace("\n", " ")


def router_headers(
    suite: str,
    assignment: Assignment,
    timings: Mapping[str, float],
    final: Aggregate | None = None,
) -> dict[str, str]:
    """The x-router-* headers: suite, the method that decided, chosen experts, their
    estimated success probabilities (a probability method), mapped skills, stage timings; an
    escalating team's third expert (and, with the ``final`` answer, whether it answered). An
    escalating team's probability, evidence and cost penalty are the team's own (named
    ``first + second > third``): it was chosen on them."""
    skills = dict.fromkeys(match.skill for match in assignment.skills)
    headers = {
        "x-router-suite": _ascii(suite),
        "x-router-method": _ascii(assignment.router),
        "x-router-experts": _ascii(",".join(assignment.chosen)),
        "x-router-skills": _ascii(",".join(skills)),
        "x-router-timings": timings_header(timings),
    }
    scores = {s.expert: s for s in assignment.scores}
    chosen = [scores[name] for name in assignment.chosen if name in scores]
    if assignment.option is not None:  # an escalating team was priced as one option
        chosen = [assignment.option]
    if chosen and all(s.probability is not None for s in chosen):
        headers["x-router-probabilities"] = _ascii(
            ",".join(f"{s.expert}={s.probability:.3f}" for s in chosen)
        )
    if chosen and all(s.evidence for s in chosen):
        headers["x-router-evidence"] = _ascii(",".join(map(evidence_entry, chosen)))
    if chosen:
        headers["x-router-cost-penalty"] = _ascii(
            ",".join(f"{s.expert}={s.cost_penalty:.3f}" for s in chosen)
        )
    return headers | escalation_headers(assignment, final)


def escalation_headers(assignment: Assignment, final: Aggregate | None) -> dict[str, str]:
    """``x-router-escalate-to`` (an escalating team's third expert) and, once answered,
    ``x-router-escalated`` (``true`` where the pair disagreed and the third expert's answer is
    final); none for any other team."""
    if assignment.escalate_to is None:
        return {}
    headers = {"x-router-escalate-to": _ascii(assignment.escalate_to)}
    if final is not None:
        headers["x-router-escalated"] = "true" if final.method == "escalated" else "false"
    return headers


def evidence_entry(score: ExpertScore) -> str:
    """'name:cluster=0.812/37.5;task=0.790/600.0;global=0.770/2212.0': each level's estimate
    and the (weighted) graded questions behind it, in the order the estimate shrinks them."""
    levels = score.evidence or {}
    parts = (
        f"{level}={values['estimate']:.3f}/{values['questions']:.1f}"
        for level, values in levels.items()
    )
    return f"{score.expert}:" + ";".join(parts)


def timings_header(timings: Mapping[str, float]) -> str:
    """'tag=0.010;route=0.020;experts=1.300;aggregate=0.800'."""
    return ";".join(f"{stage}={seconds:.3f}" for stage, seconds in timings.items())


def router_info(suite: str, result: QuestionResult) -> dict[str, Any]:
    """The ``router`` field of an answered question: the assignment, each expert's answer, how
    the final answer was reached, the tokens spent per stage, the stage timings."""
    record = result.to_json()
    final = record["final"]
    return {
        "suite": suite,
        "assignment": record["routing"],
        "experts": record["experts"],
        "aggregation": {
            "method": final["method"],
            "aggregator": final["aggregator"],
            "answer": final["answer"],
            "reason": final["reason"],
        },
        "usage": usage_breakdown(result),
        "timings": record["timings"],
    }


def usage_breakdown(result: QuestionResult) -> dict[str, dict[str, int]]:
    """The tokens of the tagger (an LLM tagger's calls; 0 for the others), of the experts (all
    of them together) and of the aggregator."""
    experts = [answer.completion for answer in result.answers]
    return {
        "tagger": completion_usage([result.assignment.tagging]),
        "experts": completion_usage(experts),
        "aggregator": completion_usage([result.aggregate.completion]),
    }


def routed_usage(result: QuestionResult) -> dict[str, int]:
    """The ``usage`` of a routed answer: every token spent, the tagger's, the experts' and the
    aggregator's."""
    tokens = result.tokens()
    return usage_body(tokens["prompt"], tokens["completion"])


def check_answered(answers: list[ExpertAnswer], aggregate: Aggregate) -> None:
    """When no recruited expert produced an answer, the error of their failures' kind if they
    all failed alike (a timeout: 504, a prompt too long: 400), else of a backend failure."""
    if aggregate.method != "none" or not answers:
        return
    errors = [f"{a.expert}: {a.error or 'empty answer'}" for a in answers]
    kinds = {a.failure or FailureKind.BACKEND for a in answers}
    kind = kinds.pop() if len(kinds) == 1 else FailureKind.BACKEND
    body = failure_body(kind, "every recruited expert failed: " + "; ".join(errors))
    raise HTTPError(body.status, body.message, type=body.type, code=body.code, param=body.param)


def observe(metrics: Metrics, result: QuestionResult, live: Completion | None = None) -> None:
    """Stage timings, selections, tokens and cache hits of one answered question; ``live`` is
    a streamed completion (never cached; its tokens were counted when it ended)."""
    metrics.observe_stages(result.timings)
    metrics.count_selections(result.assignment.chosen)
    tagging = result.assignment.tagging
    if tagging is not None:
        metrics.count_tokens(tagging.expert, tagging.prompt_tokens, tagging.completion_tokens)
    completions = [answer.completion for answer in result.answers]
    completions.append(result.aggregate.completion)
    for completion in completions:
        if completion is not None and completion is not live:
            metrics.count_completion(completion, "pipeline")


@dataclass(frozen=True)
class RoutedCall:
    """A routed request, parsed: the served suite, its pipeline, the routing options."""

    suite: str
    pipeline: Pipeline
    options: RouteOptions


async def routed_call(
    services: Services,
    suite: str | None,
    knobs: RoutingKnobs,
    param: str = "model",
    max_tokens: int | None = None,
) -> RoutedCall:
    """Check the suite (``param`` names the field it came from) and the routing knobs."""
    served = check_suite(services, suite, param)
    pipeline = await services.pipeline(served)
    options = route_options(services, pipeline, knobs, max_tokens)
    return RoutedCall(served, pipeline, options)


async def answer_routed(
    pipeline: Pipeline,
    question: Question,
    assignment: Assignment,
    options: RouteOptions,
    timings: dict[str, float],
) -> QuestionResult:
    """Run the recruited experts and the aggregator on a routed question (``Pipeline.answer``
    after its ``route``, which the caller ran to know the experts first)."""
    cap = options.max_tokens
    answers = await pipeline.run_experts([question], [assignment], timings, max_tokens=cap)
    aggregates = await pipeline.aggregate(
        [question], answers, timings, max_tokens=cap, assignments=[assignment]
    )
    return QuestionResult(
        question, assignment, answers[question.id], aggregates[question.id], dict(timings)
    )


def check_token_limit(services: Services, limit: int | None, param: str) -> None:
    """400 when a request asks a generation for more tokens than the server allows."""
    most = services.settings.max_tokens
    if limit is not None and limit > most:
        message = f"{param} must be at most {most} (ROUTER_SVC_MAX_TOKENS); got {limit}"
        raise invalid(message, param)


def check_messages(services: Services, messages: Sequence[object]) -> None:
    """400 when a conversation has more turns than the server accepts."""
    limit = services.settings.max_messages
    if len(messages) > limit:
        message = f"messages has {len(messages)} items; at most {limit} are allowed"
        raise invalid(message, "messages")
