"""What the server shares between requests, built by the lifespan and kept on ``app.state``.

``Services`` bundles the runtime (engines, embedder, store), the micro-batcher for direct expert
calls, the metrics and the pipelines, one per served suite, built on first use under a lock.
The request id of the request being served lives in a context variable, so every log line can
carry it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from router_svc.api.metrics import Metrics
from router_svc.assembly import Runtime, build_pipeline
from router_svc.config.loader import load_pool
from router_svc.config.settings import Settings
from router_svc.execution.microbatch import MicroBatcher
from router_svc.pipeline import Pipeline
from router_svc.routing.artifacts import PROFILE_FILE
from router_svc.store import Store
from router_svc.types import Completion, Question

logger = logging.getLogger(__name__)

FALLBACK_SUITE = "starter"
"""The default suite when none is profiled yet: its errors say how to profile it."""

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_request_id() -> str:
    """The id of the request being served ("-" outside a request)."""
    return _request_id.get()


def set_request_id(request_id: str) -> contextvars.Token[str]:
    return _request_id.set(request_id)


def reset_request_id(token: contextvars.Token[str]) -> None:
    _request_id.reset(token)


def discover_suites(skills_dir: Path) -> list[str]:
    """Every folder under ``skills_dir`` that holds a profile.json, sorted."""
    if not skills_dir.is_dir():
        return []
    return sorted(p.name for p in skills_dir.iterdir() if (p / PROFILE_FILE).is_file())


@dataclass
class Services:
    """The long-lived parts of one server process."""

    settings: Settings
    runtime: Runtime
    batcher: MicroBatcher
    metrics: Metrics
    default_suite: str
    suites: list[str]
    """The suites served as ``router-svc:<suite>``; the default one comes first."""
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    cache_writes: dict[str, Completion] = field(default_factory=dict)
    """Direct-call completions being written to the cache after their response went out."""
    models_ready: bool = False
    """Set once /readyz found every model file (they do not go away)."""
    warm: bool = False
    """Set once the default suite's pipeline is built and its tagger and embedder are loaded,
    and, with ``preload_experts``, its experts too (``warm_up``); /readyz is 503 until then."""
    warm_up_error: str | None = None
    """Why the warm-up failed (it routes one question as a request would): /readyz reports it
    and stays 503, since requests to the default suite would fail the same way."""
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def store(self) -> Store:
        return self.runtime.store

    @property
    def experts(self) -> list[str]:
        return self.runtime.pool.names

    async def pipeline(self, suite: str) -> Pipeline:
        """The suite's pipeline, built (in a worker thread) on first use, one at a time."""
        pipeline = self.pipelines.get(suite)
        if pipeline is not None:
            return pipeline
        async with self._lock:
            if suite not in self.pipelines:
                logger.info("building the pipeline of suite %s", suite)
                built = await asyncio.to_thread(build_pipeline, self.runtime, suite)
                self.pipelines[suite] = built
            return self.pipelines[suite]

    async def warm_up(self, attempts: int = 3) -> None:
        """Build the default suite's pipeline and route one question through it, so the
        tagger's model and the embedder are loaded before the first request needs them.

        A generation the warm-up shares with a request is cancelled when that request's client
        goes away; the warm-up then tries again (it is only cancelled itself at shutdown)."""
        try:
            for attempt in range(1, attempts + 1):
                if await self._warm_once(attempt, attempts):
                    return
        finally:
            self.warm = True

    async def _warm_once(self, attempt: int, attempts: int) -> bool:
        """One try; True when done (warm, failed for good, or no default suite)."""
        try:
            if self.default_suite in self.suites:
                pipeline = await self.pipeline(self.default_suite)
                question = Question("warm-up", "What is 2 + 2?")
                await pipeline.route([question], pipeline.options(), {})
                if self.settings.preload_experts:
                    await self.preload(pipeline)
                logger.info("warmed up suite %s", self.default_suite)
            return True
        except Exception as exc:  # readiness reports what is broken; requests will too
            logger.warning("warm-up of suite %s failed: %r", self.default_suite, exc)
            self.warm_up_error = f"warm-up of suite {self.default_suite} failed: {exc!r}"
            return True
        except BaseException as exc:  # a cancellation (or a group of them) from shared work
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the server is shutting down
            logger.warning(
                "warm-up of suite %s was interrupted (%r)%s",
                self.default_suite,
                exc,
                "; trying again" if attempt < attempts else "",
            )
            return attempt == attempts

    async def preload(self, pipeline: Pipeline) -> list[str]:
        """Load the experts ``pipeline`` uses most (``preload_order``) within the memory
        budget; the resident experts after it, most wanted first."""
        order = preload_order(pipeline)
        models = self.runtime.models
        for expert in reversed(order):  # when the budget is full, the least wanted unload
            await models.acquire(expert)
        loaded = [expert for expert in order if expert in models.resident]
        logger.info("preloaded experts %s (of %s)", ", ".join(loaded), ", ".join(order))
        return loaded

    async def close(self) -> None:
        await self.batcher.close()
        await self.runtime.close()


def preload_order(pipeline: Pipeline) -> list[str]:
    """The experts a suite's answers need, most wanted first: the aggregator (every answer
    with k > 1 may call it), then the routable experts by validation accuracy."""
    matrix = pipeline.recruiter.matrix
    ranked = [
        matrix.experts[i]
        for i in sorted(range(len(matrix.experts)), key=lambda i: -matrix.accuracy[i])
    ]
    first = [pipeline.aggregator.expert] if pipeline.aggregator.expert else []
    return list(dict.fromkeys(first + ranked))


def served_suites(settings: Settings) -> list[str]:
    """The configured suites, or every profiled one; the default (first) is 'starter' if any."""
    if settings.serve_suites:
        return list(dict.fromkeys(settings.serve_suites))
    found = discover_suites(settings.skills_dir)
    if FALLBACK_SUITE in found:
        found.remove(FALLBACK_SUITE)
        found.insert(0, FALLBACK_SUITE)
    return found


def build_services(settings: Settings, metrics: Metrics) -> Services:
    """Load the pool and create the runtime; nothing connects or loads a model yet."""
    pool = load_pool(settings.config_path)
    runtime = Runtime.create(settings, pool, abandoned=metrics.count_spent)
    suites = served_suites(settings)
    if not suites:
        logger.warning(
            "no profiled suite under %s: only direct expert calls work until you run "
            "router-svc profile --suite %s",
            settings.skills_dir,
            FALLBACK_SUITE,
        )
    return Services(
        settings=settings,
        runtime=runtime,
        batcher=MicroBatcher(
            runtime.models,
            max_batch_size=settings.microbatch_max_size,
            max_wait_ms=settings.microbatch_max_wait_ms,
        ),
        metrics=metrics,
        default_suite=suites[0] if suites else FALLBACK_SUITE,
        suites=suites,
    )


def services_of(request: Request) -> Services:
    """The Services of the app serving ``request`` (a FastAPI dependency)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(services_of)]
"""A route parameter that receives the app's Services."""
