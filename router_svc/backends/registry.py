"""The engine registry: config name -> engine class, imported only when used.

Engine classes are imported only when an expert needs one. The names are those of
``router_svc.config.engines.ENGINE_OPTIONS`` (what experts.yaml accepts); a test keeps them equal.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from router_svc.errors import UnknownComponentError

if TYPE_CHECKING:
    from router_svc.backends.base import Engine, EngineContext
    from router_svc.config.pool import ExpertConfig

ENGINES: dict[str, str] = {
    "llamacpp": "router_svc.backends.llamacpp:LlamaCppEngine",
    "litellm": "router_svc.backends.litellm:LiteLLMEngine",
    "vllm": "router_svc.backends.vllm:VLLMEngine",
    "replay": "router_svc.replay.engine:ReplayEngine",
}


def engine_class(name: str) -> type[Engine]:
    """The engine class registered as ``name``."""
    if name not in ENGINES:
        raise UnknownComponentError("engine", name, ENGINES)
    module_name, class_name = ENGINES[name].split(":")
    engine: type[Engine] = getattr(importlib.import_module(module_name), class_name)
    return engine


def create_engine(expert: ExpertConfig, context: EngineContext | None = None) -> Engine:
    """An unloaded engine for one expert."""
    return engine_class(expert.engine)(expert, context)
