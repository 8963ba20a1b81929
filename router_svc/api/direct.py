"""Direct expert calls (``model: "<expert>"``): the whole conversation to one expert.

The request goes through the micro-batcher, honouring the OpenAI sampling fields. A
deterministic call (temperature 0, or a seed) goes through the runtime's generation cache
layer, the one the pipeline's executor uses, with its key scheme; the cache write happens
after the response is sent (``Services.cache_writes`` serves it meanwhile).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask

from router_svc.api.schemas import ChatCompletionRequest, completion_body, usage_body
from router_svc.api.service import model_ids, timings_header
from router_svc.api.state import Services
from router_svc.api.streaming import Streamed, events, generate_live, primed, sse_response
from router_svc.backends.base import Engine
from router_svc.errors import UnknownComponentError
from router_svc.types import Completion, GenerationRequest


def expert_request(body: ChatCompletionRequest) -> GenerationRequest:
    """The conversation and sampling fields of ``body`` as one generation request."""
    return GenerationRequest(
        messages=tuple(message.to_message(i) for i, message in enumerate(body.messages)),
        max_tokens=body.max_tokens or body.max_completion_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        seed=body.seed,
        stop=body.stop_list(),
    )


def expert_engine(services: Services, name: str) -> Engine:
    """The engine of expert ``name``; an unknown one names the served models."""
    if name not in services.experts:
        raise UnknownComponentError("model", name, model_ids(services))
    return services.runtime.models.engine(name)


def _headers(name: str, seconds: float) -> dict[str, str]:
    return {"x-router-experts": name, "x-router-timings": timings_header({"expert": seconds})}


async def expert_answer(
    services: Services, model: str, engine: Engine, request: GenerationRequest
) -> JSONResponse:
    """One completion of the expert, from the cache when the request is deterministic."""
    started = time.perf_counter()
    name = engine.name
    key = await _cache_key(services, engine, request)
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
    payload = completion_body(model, completion.text, completion.finish_reason, usage, router)
    headers = _headers(name, time.perf_counter() - started)
    return JSONResponse(payload, headers=headers, background=write)


async def expert_stream(
    services: Services, model: str, name: str, request: GenerationRequest
) -> StreamingResponse:
    """The expert's generation as server-sent events (never cached)."""
    models = services.runtime.models
    started = time.perf_counter()
    await models.acquire(name)  # a model that will not load fails before the first byte
    streamed = Streamed(name, services.metrics)

    async def finish() -> dict[str, Any]:
        live = streamed.completion()
        usage = usage_body(live.prompt_tokens, live.completion_tokens)
        router = {"expert": name, "usage_estimated": streamed.estimated}
        return {"usage": usage, "router": router, "finish_reason": live.finish_reason}

    pieces = await primed(generate_live(models, name, request, streamed))
    router = {"expert": name, "cached": False}
    headers = _headers(name, time.perf_counter() - started)
    return sse_response(events(model, router, pieces, finish), headers)


async def _cache_key(services: Services, engine: Engine, request: GenerationRequest) -> str | None:
    """The layer's key of a deterministic request; None for a sampled one or without a cache."""
    cache = services.runtime.cache
    if cache is None:
        return None
    return await asyncio.to_thread(cache.key, engine.name, request, engine)


async def _cache_get(services: Services, key: str | None) -> Completion | None:
    """A completion being written, else the cached one; a failing store counts as a miss."""
    if key is None or services.runtime.cache is None:
        return None
    writing = services.cache_writes.get(key)
    if writing is not None:
        return dataclasses.replace(writing, cached=True)
    return await services.runtime.cache.get(key)


def _cache_later(
    services: Services, key: str | None, completion: Completion
) -> BackgroundTask | None:
    """Write the completion to the cache after the response is sent, so the store's write
    never delays the answer."""
    if key is None:
        return None
    services.cache_writes[key] = completion
    return BackgroundTask(_cache_set, services, key, completion)


async def _cache_set(services: Services, key: str, completion: Completion) -> None:
    try:
        if services.runtime.cache is not None:
            await services.runtime.cache.set(key, completion)
    finally:
        services.cache_writes.pop(key, None)
