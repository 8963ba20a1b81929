"""The Python SDK: clients of a router-svc server and the in-process ``MoE``.

``router_svc`` re-exports everything here; import from there (``router_svc.Client``). The
clients only need httpx; ``MoE`` loads the pipeline (numpy, the engines), so it is imported on
first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from router_svc.config.extras import missing_extra
from router_svc.sdk._stream import AsyncChatStream, ChatStream
from router_svc.sdk.client import AsyncClient, Client
from router_svc.sdk.models import (
    Answer,
    Batch,
    BatchResult,
    ChatResult,
    ModelInfo,
    RouteDecision,
    RouterInfo,
    Usage,
)

if TYPE_CHECKING:
    from router_svc.sdk.moe import MoE

__all__ = [
    "Answer",
    "AsyncChatStream",
    "AsyncClient",
    "Batch",
    "BatchResult",
    "ChatResult",
    "ChatStream",
    "Client",
    "MoE",
    "ModelInfo",
    "RouteDecision",
    "RouterInfo",
    "Usage",
]


def __getattr__(name: str) -> object:
    """``MoE`` on first use; it runs the router in this process, so it needs the server extra."""
    if name == "MoE":
        try:
            return importlib.import_module("router_svc.sdk.moe").MoE
        except ModuleNotFoundError as exc:
            raise (missing_extra(exc, "router_svc.MoE") or exc) from exc
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
