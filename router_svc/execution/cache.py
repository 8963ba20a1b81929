"""The generation cache layer: one key scheme for every deterministic generation.

A request with temperature 0 or a seed is keyed by the sha256 of everything that decides its
output (expert, model fingerprint, engine, chat format, messages, sampling, stops, grammar);
the executor (pipeline tasks) and the API's direct expert calls both go through it. A failing
store is logged and counts as a miss.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Protocol

from router_svc.backends.base import Engine
from router_svc.execution.models import ModelManager
from router_svc.types import Completion, GenerationRequest

logger = logging.getLogger(__name__)

DEFAULT_CACHE_TTL_S = 7 * 24 * 3600
_CACHE_FORMAT = "router-svc/generation/v1"


class GenerationCache(Protocol):
    """Where deterministic completions are kept (the store's Redis and SQLite caches fit)."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl_s: int) -> None: ...


class CacheLayer:
    """Cache keys, lookups and stores; a failing cache is logged and treated as a miss."""

    def __init__(self, cache: GenerationCache, identity: Callable[[str], str], ttl_s: int) -> None:
        if ttl_s < 1:
            raise ValueError(f"cache_ttl_s must be >= 1 second, got {ttl_s}")
        self._cache = cache
        self._identity = identity
        self._ttl_s = ttl_s
        self._identities: dict[str, str] = {}

    def forget_identities(self) -> None:
        """Ask ``identity`` again (once per expert per run): model files may have changed."""
        self._identities.clear()

    async def lookup(
        self, expert: str, request: GenerationRequest, models: ModelManager
    ) -> Completion | None:
        """The cached completion of ``request`` to ``expert``, if there is one."""
        if expert not in models.names:
            return None
        return await self.get(self.key(expert, request, models.engine(expert)))

    async def store(
        self, expert: str, request: GenerationRequest, engine: Engine, completion: Completion
    ) -> None:
        await self.set(self.key(expert, request, engine), completion)

    async def get(self, key: str | None) -> Completion | None:
        """The completion cached under ``key`` (None: a sampled request, never cached)."""
        if key is None:
            return None
        try:
            value = await self._cache.get(key)
            return None if value is None else _decode(value)
        except Exception as exc:
            logger.warning("generation cache lookup failed (treated as a miss): %s", exc)
            return None

    async def set(self, key: str | None, completion: Completion) -> None:
        if key is None:
            return
        try:
            await self._cache.set(key, json.dumps(dataclasses.asdict(completion)), self._ttl_s)
        except Exception as exc:
            logger.warning("generation cache store failed: %s", exc)

    def key(self, expert: str, request: GenerationRequest, engine: Engine) -> str | None:
        """sha256 of everything that decides the output, or None for a sampled request."""
        sampling = engine.sampling(request)
        if sampling.temperature != 0 and sampling.seed is None:
            return None
        if expert not in self._identities:
            self._identities[expert] = self._identity(expert)
        payload = {
            "format": _CACHE_FORMAT,
            "expert": expert,
            "model": self._identities[expert],
            "engine": engine.expert.engine,
            "chat_format": engine.expert.chat_format,
            "messages": engine.chat_messages(request),
            "sampling": dataclasses.asdict(sampling),
            "stop": [list(engine.expert.stop), list(request.stop)],
            "grammar": request.grammar,
        }
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _decode(value: str) -> Completion:
    data = json.loads(value)
    return dataclasses.replace(Completion(**data), cached=True)
