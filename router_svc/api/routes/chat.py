"""``POST /v1/chat/completions``: through the router, or straight to one expert.

``model: "router-svc"`` (the default suite) or ``"router-svc:<suite>"`` answers the last user
message through the suite's pipeline; earlier turns and system messages are not passed on, since
every expert brings its own system prompt (an expert is model x prompt x sampling) and the
experts keep their own sampling settings. The routing knobs are extra body fields: ``k``,
``tagger``, ``cost_weight``, ``mode``, ``seed``.

``model: "<expert>"`` sends the whole conversation to that expert (after its own system prompt)
through the micro-batcher, honouring ``temperature``, ``top_p``, ``max_tokens``, ``seed`` and
``stop``. Deterministic calls (temperature 0, or a seed) go through the generation cache.

Answers carry the explanation in ``router`` and the ``x-router-*`` headers; ``usage`` sums
every token spent (the experts' and the aggregator's).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from router_svc.api.errors import invalid
from router_svc.api.routes.models import model_ids
from router_svc.api.routes.route import (
    check_answered,
    check_suite,
    log_unknown_fields,
    observe,
    route_options,
    router_headers,
    router_info,
    timings_header,
)
from router_svc.api.schemas import (
    ChatCompletionRequest,
    ExpertModel,
    completion_body,
    parse_model,
    question_of,
    usage_body,
)
from router_svc.api.state import Services, ServicesDep, current_request_id
from router_svc.api.streaming import RoutedStream, Streamed, events, generate_live, sse_response
from router_svc.backends.base import Engine
from router_svc.batch.run_file import result_record
from router_svc.errors import UnknownComponentError
from router_svc.execution.runner import DEFAULT_CACHE_TTL_S
from router_svc.pipeline import Pipeline, RouteOptions
from router_svc.store import cache_key
from router_svc.types import Completion, GenerationRequest, Question

logger = logging.getLogger(__name__)

router = APIRouter(tags=["chat"])

_CACHE_FORMAT = "router-svc/api/direct/v1"


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(body: ChatCompletionRequest, services: ServicesDep) -> Response:
    """An answer from the router (a suite's pipeline) or from one expert directly."""
    log_unknown_fields(body)
    limit = services.settings.max_messages
    if len(body.messages) > limit:
        message = f"messages has {len(body.messages)} items; at most {limit} are allowed"
        raise invalid(message, "messages")
    target = parse_model(body.model)
    if isinstance(target, ExpertModel):
        return await _expert(services, body, target.name)
    suite = check_suite(services, target.suite, "model")
    pipeline = await services.pipeline(suite)
    options = route_options(services, pipeline, body)
    question = Question(current_request_id(), question_of(body.messages))
    if body.stream:
        return await _routed_stream(services, pipeline, suite, question, options, body.model)
    return await _routed(services, pipeline, suite, question, options, body.model)


async def _routed(
    services: Services,
    pipeline: Pipeline,
    suite: str,
    question: Question,
    options: RouteOptions,
    model: str,
) -> JSONResponse:
    (result,) = await pipeline.answer([question], options)
    check_answered(result.answers, result.aggregate)
    observe(services.metrics, result)
    record = result_record(result)
    aggregate = result.aggregate
    finish = "stop"
    if aggregate.method == "aggregator" and aggregate.completion is not None:
        finish = aggregate.completion.finish_reason
    tokens = record["tokens"]
    usage = usage_body(tokens["prompt"], tokens["completion"])
    body = completion_body(model, aggregate.text, finish, usage, router_info(suite, record))
    return JSONResponse(body, headers=router_headers(suite, result.assignment, result.timings))


async def _routed_stream(
    services: Services,
    pipeline: Pipeline,
    suite: str,
    question: Question,
    options: RouteOptions,
    model: str,
) -> Response:
    timings: dict[str, float] = {}
    (assignment,) = await pipeline.route([question], options, timings)
    stream = RoutedStream(services, pipeline, question, assignment)
    await stream.prepare(timings)
    headers = router_headers(suite, assignment, timings)

    async def finish() -> dict[str, Any]:
        return await stream.finish(suite, timings)

    return sse_response(events(model, stream.first_router(suite), stream.pieces(), finish), headers)


# --- direct expert calls ---------------------------------------------------------------------


def _expert_request(body: ChatCompletionRequest) -> GenerationRequest:
    return GenerationRequest(
        messages=tuple(message.to_message(i) for i, message in enumerate(body.messages)),
        max_tokens=body.max_tokens or body.max_completion_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        seed=body.seed,
        stop=body.stop_list(),
    )


def _engine(services: Services, name: str) -> Engine:
    if name not in services.experts:
        raise UnknownComponentError("model", name, model_ids(services))
    return services.runtime.models.engine(name)


def _expert_headers(name: str, seconds: float) -> dict[str, str]:
    return {"x-router-experts": name, "x-router-timings": timings_header({"expert": seconds})}


async def _expert(services: Services, body: ChatCompletionRequest, name: str) -> Response:
    engine = _engine(services, name)
    request = _expert_request(body)
    if body.stream:
        return await _expert_stream(services, body.model, name, request)
    started = time.perf_counter()
    key = await _direct_key(services, engine, request)
    completion = await _cache_get(services, key)
    write = None
    if completion is None:
        completion = await services.batcher.submit(name, request)
        write = _cache_later(services, key, completion)
    if key is not None:
        services.metrics.count_completion(completion, "direct")
    else:
        prompt, generated = completion.prompt_tokens, completion.completion_tokens
        services.metrics.count_tokens(name, prompt, generated)
    usage = usage_body(completion.prompt_tokens, completion.completion_tokens)
    router = {"expert": name, "cached": completion.cached}
    payload = completion_body(body.model, completion.text, completion.finish_reason, usage, router)
    headers = _expert_headers(name, time.perf_counter() - started)
    return JSONResponse(payload, headers=headers, background=write)


async def _expert_stream(
    services: Services, model: str, name: str, request: GenerationRequest
) -> Response:
    models = services.runtime.models
    started = time.perf_counter()
    await models.acquire(name)  # a model that will not load fails before the first byte
    streamed = Streamed(name)

    async def finish() -> dict[str, Any]:
        live = streamed.completion()
        services.metrics.count_tokens(name, live.prompt_tokens, live.completion_tokens)
        usage = usage_body(live.prompt_tokens, live.completion_tokens)
        return {"usage": usage, "router": {"expert": name, "usage_estimated": True}}

    pieces = generate_live(models, name, request, streamed)
    router = {"expert": name, "cached": False}
    headers = _expert_headers(name, time.perf_counter() - started)
    return sse_response(events(model, router, pieces, finish), headers)


async def _direct_key(services: Services, engine: Engine, request: GenerationRequest) -> str | None:
    """The cache key of a deterministic request (temperature 0 or a seed); None otherwise."""
    sampling = engine.sampling(request)
    if sampling.temperature != 0 and sampling.seed is None:
        return None
    identity = await asyncio.to_thread(services.runtime.model_identity, engine.name)
    return cache_key(
        _CACHE_FORMAT,
        engine.name,
        identity,
        engine.expert.engine,
        engine.expert.chat_format or "",
        json.dumps(engine.chat_messages(request), sort_keys=True, ensure_ascii=False),
        json.dumps(dataclasses.asdict(sampling), sort_keys=True),
        json.dumps([list(engine.expert.stop), list(request.stop)]),
    )


async def _cache_get(services: Services, key: str | None) -> Completion | None:
    """The cached completion; a failing store is logged and counts as a miss."""
    if key is None:
        return None
    writing = services.cache_writes.get(key)
    if writing is not None:
        return dataclasses.replace(writing, cached=True)
    try:
        value = await services.store.cache.get(key)
    except Exception as exc:
        logger.warning("generation cache lookup failed (treated as a miss): %s", exc)
        return None
    if value is None:
        return None
    return dataclasses.replace(Completion(**json.loads(value)), cached=True)


def _cache_later(
    services: Services, key: str | None, completion: Completion
) -> BackgroundTask | None:
    """Write the completion to the cache after the response is sent (it is served from
    ``cache_writes`` meanwhile), so the store's write never delays the answer."""
    if key is None:
        return None
    services.cache_writes[key] = completion
    return BackgroundTask(_cache_set, services, key, completion)


async def _cache_set(services: Services, key: str, completion: Completion) -> None:
    value = json.dumps(dataclasses.asdict(completion))
    try:
        await services.store.cache.set(key, value, DEFAULT_CACHE_TTL_S)
    except Exception as exc:
        logger.warning("generation cache store failed: %s", exc)
    finally:
        services.cache_writes.pop(key, None)
