"""Operations: ``/healthz`` (the process is up), ``/readyz`` (it can serve), ``/metrics``.

/readyz checks that every llama.cpp expert's model file is there (packaged models are
assembled on the first check), that every served suite has its profile, and that the store
answers a ping, and that the default suite has warmed up; the 503 names each failed check.
/healthz and /readyz never need an API key, but without one /readyz shows only the status.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response

from router_svc.api.admission import queues_of
from router_svc.api.auth import authorized
from router_svc.api.errors import HTTPError
from router_svc.api.metrics import CONTENT_TYPE
from router_svc.api.state import Services, ServicesDep
from router_svc.config.model_files import resolve_model_path
from router_svc.errors import RouterSvcError
from router_svc.routing.artifacts import PROFILE_FILE

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])
metrics_router = APIRouter(tags=["health"])

_DEPTH_TIMEOUT_S = 2.0


@router.get("/healthz")
@router.head("/healthz", operation_id="healthz_head")
async def healthz() -> dict[str, str]:
    """The process is up and serving HTTP."""
    return {"status": "ok"}


def _model_problems(services: Services) -> list[str]:
    problems = []
    cache_dir = services.settings.model_cache_dir
    for expert in services.runtime.pool.experts:
        if expert.engine != "llamacpp":
            continue
        try:
            path = resolve_model_path(expert.model, cache_dir)
        except RouterSvcError as exc:
            problems.append(f"expert {expert.name}: {exc}")
            continue
        if not path.is_file():
            problems.append(f"expert {expert.name}: model file {path} does not exist")
    return problems


def _profile_problems(services: Services) -> list[str]:
    if not services.suites:
        return [
            f"no profiled suite under {services.settings.skills_dir}; run: router-svc profile "
            f"--suite {services.default_suite}"
        ]
    skills_dir = services.settings.skills_dir
    return [
        f"suite {suite}: no {skills_dir / suite / PROFILE_FILE}; run: router-svc profile "
        f"--suite {suite}"
        for suite in services.suites
        if not (skills_dir / suite / PROFILE_FILE).is_file()
    ]


async def _store_problems(services: Services) -> list[str]:
    if await services.store.ping():
        return []
    connection = services.store.connection
    where = getattr(connection, "url", None) or getattr(connection, "path", "the store")
    return [f"store: {where} does not answer"]


@router.get("/readyz")
@router.head("/readyz", operation_id="readyz_head")
async def readyz(request: Request, services: ServicesDep) -> dict[str, object]:
    """Ready when the default suite is warm, the models can load, the profiles are there and
    the store answers; the details (suites, experts, problems) only with an API key."""
    problems = await _problems(services)
    if not authorized(request):
        if problems:
            raise HTTPError(503, "not ready", type="server_error", code="not_ready")
        return {"status": "ready"}
    if problems:
        raise HTTPError(
            503, "not ready: " + "; ".join(problems), type="server_error", code="not_ready"
        )
    return {"status": "ready", "suites": services.suites, "experts": services.experts}


async def _problems(services: Services) -> list[str]:
    problems = (
        []
        if services.warm
        else ["warming up (loading the tagger, the embedder and the preloaded experts)"]
    )
    if services.warm_up_error is not None:
        problems.append(services.warm_up_error)
    if not services.models_ready:
        models = await asyncio.to_thread(_model_problems, services)
        services.models_ready = not models
        problems += models
    problems += _profile_problems(services)
    problems += await _store_problems(services)
    return problems


@metrics_router.get("/metrics")
async def metrics(request: Request, services: ServicesDep) -> Response:
    """Prometheus text format."""
    services.metrics.set_expert_requests(queues_of(request).held)
    stats = services.runtime.stats
    resident = len(services.runtime.models.resident)
    services.metrics.set_models(stats.loads_by_expert, resident)
    services.metrics.observe_batches(services.batcher.stats.sizes)
    try:
        depth = await asyncio.wait_for(services.store.jobs.depth(), _DEPTH_TIMEOUT_S)
        services.metrics.queue_depth.set(depth)
    except (RouterSvcError, TimeoutError) as exc:
        logger.info("queue depth unavailable: %s", exc)
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)
