"""Which expert models are loaded: load on demand, keep them within a memory budget, unload the
least recently used first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping

from router_svc.backends.base import Engine, EngineContext
from router_svc.backends.registry import create_engine
from router_svc.config.pool import PoolConfig
from router_svc.errors import UnknownComponentError
from router_svc.types import LoadStats

logger = logging.getLogger(__name__)

MB = 1024 * 1024


class ModelManager:
    """Owns one engine per expert and the memory budget their loaded models share.

    ``acquire`` loads a model if needed; when the loaded models then hold more than
    ``budget_bytes``, the least recently used ones are unloaded. A model larger than the whole
    budget still loads, alone. Models in use (``pinned``) are never unloaded to make room.
    """

    def __init__(
        self,
        engines: Mapping[str, Engine],
        *,
        budget_bytes: int,
        stats: LoadStats | None = None,
    ) -> None:
        if budget_bytes < 1:
            raise ValueError(f"budget_bytes must be >= 1, got {budget_bytes}")
        self._engines = dict(engines)
        self.budget_bytes = budget_bytes
        self.stats = stats if stats is not None else LoadStats()
        self._recent: OrderedDict[str, None] = OrderedDict()
        """Loaded experts, least recently used first."""
        self._sizes: dict[str, int] = {}
        """Memory each expert held when last loaded: room is made before loading it again."""
        self._pins: Counter[str] = Counter()
        self._lock = asyncio.Lock()

    @classmethod
    def from_pool(
        cls, pool: PoolConfig, context: EngineContext | None = None, stats: LoadStats | None = None
    ) -> ModelManager:
        """Unloaded engines for every expert of ``pool``, within its ``memory_budget_mb``."""
        engines = {expert.name: create_engine(expert, context) for expert in pool.experts}
        return cls(engines, budget_bytes=pool.memory_budget_mb * MB, stats=stats)

    @property
    def names(self) -> list[str]:
        return list(self._engines)

    @property
    def resident(self) -> list[str]:
        """Loaded experts, most recently used first."""
        return [name for name in reversed(self._recent) if self._engines[name].loaded]

    def memory_bytes(self) -> int:
        """Memory the loaded models hold together."""
        return sum(self._engines[name].memory_bytes() for name in self.resident)

    def engine(self, expert: str) -> Engine:
        """The engine of ``expert``, loaded or not; UnknownComponentError if there is none."""
        if expert not in self._engines:
            raise UnknownComponentError("expert", expert, self._engines)
        return self._engines[expert]

    async def acquire(self, expert: str) -> Engine:
        """The loaded engine of ``expert``, loading it (and unloading others) if needed."""
        engine = self.engine(expert)
        async with self._lock:
            if not engine.loaded:
                await self._make_room(expert, self._sizes.get(expert, 0))
                await self._load(expert, engine)
            self._recent[expert] = None
            self._recent.move_to_end(expert)
            await self._make_room(expert, 0)
        return engine

    @contextlib.contextmanager
    def pinned(self, expert: str) -> Iterator[None]:
        """Keep ``expert`` loaded while the block runs (it is not evicted to make room)."""
        self.engine(expert)
        self._pins[expert] += 1
        try:
            yield
        finally:
            self._pins[expert] -= 1
            if self._pins[expert] <= 0:
                del self._pins[expert]

    async def unload(self, expert: str) -> None:
        """Unload one expert's model now (a no-op when it is not loaded)."""
        engine = self.engine(expert)
        async with self._lock:
            await self._unload(expert, engine)

    async def release_all(self) -> None:
        """Unload every model this manager loaded."""
        async with self._lock:
            for name in list(self._recent):
                await self._unload(name, self._engines[name])

    async def _load(self, expert: str, engine: Engine) -> None:
        started = time.perf_counter()
        await engine.load()
        seconds = time.perf_counter() - started
        self._sizes[expert] = engine.memory_bytes()
        self.stats.loads += 1
        self.stats.load_seconds += seconds
        self.stats.loads_by_expert[expert] = self.stats.loads_by_expert.get(expert, 0) + 1
        logger.info(
            "loaded expert %s in %.2f s (%.0f MB)", expert, seconds, self._sizes[expert] / MB
        )

    async def _unload(self, expert: str, engine: Engine) -> None:
        self._recent.pop(expert, None)
        if engine.loaded:
            await engine.unload()
            logger.info("unloaded expert %s", expert)

    async def _make_room(self, expert: str, incoming: int) -> None:
        """Unload least recently used models until ``incoming`` more bytes fit the budget."""
        for name in list(self._recent):
            if self.memory_bytes() + incoming <= self.budget_bytes:
                return
            if name != expert and name not in self._pins:
                await self._unload(name, self._engines[name])
        if self.memory_bytes() + incoming > self.budget_bytes:
            logger.debug("loaded models exceed the budget of %.0f MB", self.budget_bytes / MB)
