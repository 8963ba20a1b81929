"""Engines by name: the ``router_svc.engines`` entry points (``config.registry.ENGINES``).

An expert's ``engine`` names one; its class is imported only when an expert needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from router_svc.config.registry import ENGINES
from router_svc.errors import ConfigError

if TYPE_CHECKING:
    from router_svc.backends.base import Engine, EngineContext
    from router_svc.config.pool import ExpertConfig


def engine_class(name: str) -> type[Engine]:
    """The engine class registered as ``name``."""
    from router_svc.backends.base import Engine

    cls = ENGINES.load(name)
    if not issubclass(cls, Engine):
        raise ConfigError(f"engine {name!r}: {ENGINES.entry(name).target} is not an Engine")
    return cls


def create_engine(expert: ExpertConfig, context: EngineContext | None = None) -> Engine:
    """An unloaded engine for one expert."""
    return engine_class(expert.engine)(expert, context)
