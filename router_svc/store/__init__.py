"""State store: a generation cache and a batch job queue, on Redis or on an embedded SQLite file.

``open_store(redis_url, sqlite_path)`` picks the backend; both implement the same
``Cache`` and ``JobQueue`` protocols (base.py). Delivery is at least once (a claimed item that
is not completed within ``min_idle_ms`` is claimed again); results are recorded exactly once.
"""

from __future__ import annotations

from router_svc.store.base import (
    CANCELLED,
    DEFAULT_JOB_TTL_S,
    DEFAULT_PREFIX,
    DONE,
    QUEUED,
    RUNNING,
    Cache,
    CacheStats,
    JobInfo,
    JobQueue,
    Store,
    WorkItem,
    cache_key,
)
from router_svc.store.factory import open_store

__all__ = [
    "CANCELLED",
    "DEFAULT_JOB_TTL_S",
    "DEFAULT_PREFIX",
    "DONE",
    "QUEUED",
    "RUNNING",
    "Cache",
    "CacheStats",
    "JobInfo",
    "JobQueue",
    "Store",
    "WorkItem",
    "cache_key",
    "open_store",
]
