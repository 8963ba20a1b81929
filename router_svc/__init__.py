"""router-svc: a training-free, skill-based router over a pool of expert LLMs."""

from __future__ import annotations

from router_svc.errors import (
    APIError,
    BackendError,
    ConfigError,
    RouterSvcError,
)

__all__ = [
    "APIError",
    "BackendError",
    "ConfigError",
    "RouterSvcError",
]
__version__ = "0.1.0"
