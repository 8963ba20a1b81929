"""router-svc: a training-free, skill-based router over a pool of expert LLMs.

The public SDK is what ``__all__`` lists. The clients and ``MoE`` are imported on first use
(module ``__getattr__``), so ``import router_svc`` stays cheap: no httpx, numpy or models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from router_svc.errors import (
    APIError,
    BackendError,
    BackendHTTPError,
    BackendTimeout,
    BackendUnavailableError,
    ConfigError,
    ContextLengthError,
    DataError,
    FailureKind,
    JobNotFoundError,
    NoExpertsError,
    RouterSvcError,
    RoutingError,
    StoreError,
    UnknownComponentError,
)
from router_svc.types import Message, Question

if TYPE_CHECKING:
    from router_svc.sdk import (
        Answer,
        AsyncChatStream,
        AsyncClient,
        Batch,
        BatchResult,
        ChatResult,
        ChatStream,
        Client,
        ModelInfo,
        RouteDecision,
        RouterInfo,
        Usage,
    )
    from router_svc.sdk.moe import MoE

__all__ = [
    "APIError",
    "Answer",
    "AsyncChatStream",
    "AsyncClient",
    "BackendError",
    "BackendHTTPError",
    "BackendTimeout",
    "BackendUnavailableError",
    "Batch",
    "BatchResult",
    "ChatResult",
    "ChatStream",
    "Client",
    "ConfigError",
    "ContextLengthError",
    "DataError",
    "FailureKind",
    "JobNotFoundError",
    "Message",
    "MoE",
    "ModelInfo",
    "NoExpertsError",
    "Question",
    "RouteDecision",
    "RouterInfo",
    "RouterSvcError",
    "RoutingError",
    "StoreError",
    "UnknownComponentError",
    "Usage",
]
from router_svc.version import __version__ as __version__

_LAZY = {
    "Answer": "router_svc.sdk.models",
    "AsyncChatStream": "router_svc.sdk._stream",
    "AsyncClient": "router_svc.sdk.client",
    "Batch": "router_svc.sdk.models",
    "BatchResult": "router_svc.sdk.models",
    "ChatResult": "router_svc.sdk.models",
    "ChatStream": "router_svc.sdk._stream",
    "Client": "router_svc.sdk.client",
    "ModelInfo": "router_svc.sdk.models",
    "MoE": "router_svc.sdk",
    "RouteDecision": "router_svc.sdk.models",
    "RouterInfo": "router_svc.sdk.models",
    "Usage": "router_svc.sdk.models",
}


def __getattr__(name: str) -> object:
    """Import the SDK's classes on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
