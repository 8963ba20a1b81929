"""``POST /v1/chat/completions``: through the router, or straight to one expert.

``model: "router-svc"`` (the default suite) or ``"router-svc:<suite>"`` answers the last user
message through the suite's pipeline; earlier turns and system messages are not passed on, since
every expert brings its own system prompt (an expert is model x prompt x sampling) and the
experts keep their own sampling settings. The routing knobs (``config.knobs``) are extra body
fields.

``max_tokens`` (or ``max_completion_tokens``) is the limit of every generation a routed call
runs, each expert's and the aggregator's, so the answer is at most that long; ``finish_reason``
is that of the generation whose text the answer is ("length": it was cut).

``model: "<expert>"`` sends the whole conversation to that expert (``api.direct``), honouring
``temperature``, ``top_p``, ``max_tokens``, ``seed`` and ``stop``.

Answers carry the explanation in ``router`` and the ``x-router-*`` headers; ``usage`` sums
every token spent (the tagger's, the experts' and the aggregator's; ``router.usage`` has each
part), the same streamed or not.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from router_svc.api.admission import holding, queues_of, until_done
from router_svc.api.body import JSONBodyRoute
from router_svc.api.direct import expert_answer, expert_engine, expert_request, expert_stream
from router_svc.api.routes.feedback import keep_answer
from router_svc.api.schemas import (
    ChatCompletionRequest,
    ExpertModel,
    completion_body,
    parse_model,
    question_of,
    refuse_tools,
)
from router_svc.api.service import (
    KnobLimits,
    RoutedCall,
    answer_routed,
    check_answered,
    check_messages,
    check_token_limit,
    log_unknown_fields,
    observe,
    routed_call,
    routed_usage,
    router_headers,
    router_info,
)
from router_svc.api.state import Services, ServicesDep, current_request_id
from router_svc.api.streaming import RoutedStream, events, sse_response
from router_svc.results import QuestionResult
from router_svc.routing.recruiter import Assignment
from router_svc.types import Question

router = APIRouter(tags=["chat"], route_class=JSONBodyRoute)


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest, services: ServicesDep, request: Request
) -> Response:
    """An answer from the router (a suite's pipeline) or from one expert directly."""
    log_unknown_fields(body)
    check_messages(services, body.messages)
    KnobLimits.of(services).check(body)
    check_token_limit(services, body.max_tokens, "max_tokens")
    check_token_limit(services, body.max_completion_tokens, "max_completion_tokens")
    refuse_tools(body, body.messages)
    for index, message in enumerate(body.messages):
        message.text(index)
    target = parse_model(body.model)
    if isinstance(target, ExpertModel):
        return await _expert(services, body, target.name, request)
    call = await routed_call(services, target.suite, body, max_tokens=body.token_limit())
    queues_of(request).check_room(call.pipeline.recruiter.matrix.experts, call.options.k)
    question = Question(current_request_id(), question_of(body.messages))
    timings: dict[str, float] = {}
    (assignment,) = await call.pipeline.route([question], call.options, timings)
    if body.stream:
        held = queues_of(request).hold(assignment.chosen)
        respond = _routed_stream(services, call, question, assignment, timings, body.model, request)
        return await holding(held, respond)
    with queues_of(request).admit(assignment.chosen):
        work = answer_routed(call.pipeline, question, assignment, call.options, timings)
        result = await until_done(request, work, services.settings.request_timeout_s)
    check_answered(result.answers, result.aggregate)
    observe(services.metrics, result)
    response = _render(call.suite, result, body.model)
    await keep_answer(services, call.suite, result, response)
    return response


def _render(suite: str, result: QuestionResult, model: str) -> JSONResponse:
    """The ``chat.completion`` of a routed answer, with its ``router`` field and headers."""
    aggregate = result.aggregate
    info = router_info(suite, result)
    usage = routed_usage(result)
    body = completion_body(model, aggregate.text, aggregate.finish_reason, usage, info)
    headers = router_headers(suite, result.assignment, result.timings, aggregate)
    return JSONResponse(body, headers=headers)


async def _routed_stream(
    services: Services,
    call: RoutedCall,
    question: Question,
    assignment: Assignment,
    timings: dict[str, float],
    model: str,
    request: Request,
) -> StreamingResponse:
    """The experts run before the stream starts (under the deadline, cancelled when the client
    leaves meanwhile), then the final text streams."""
    max_tokens = call.options.max_tokens
    stream = RoutedStream(services, call.pipeline, question, assignment, max_tokens)
    await until_done(request, stream.prepare(timings), services.settings.request_timeout_s)
    pieces = await stream.pieces()
    headers = router_headers(call.suite, assignment, timings)

    async def finish() -> dict[str, Any]:
        return await stream.finish(call.suite, timings)

    first = stream.first_router(call.suite)
    return sse_response(events(model, first, pieces, finish), headers)


async def _expert(
    services: Services, body: ChatCompletionRequest, name: str, request: Request
) -> Response:
    engine = expert_engine(services, name)
    generation = expert_request(body)
    if body.stream:
        held = queues_of(request).hold([name])
        return await holding(held, expert_stream(services, body.model, name, generation))
    with queues_of(request).admit([name]):
        work = expert_answer(services, body.model, engine, generation)
        return await until_done(request, work, services.settings.request_timeout_s)
