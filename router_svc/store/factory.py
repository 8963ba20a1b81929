"""open_store: Redis when a URL is configured, else the embedded SQLite file."""

from __future__ import annotations

from pathlib import Path

from router_svc.config.extras import missing_extra
from router_svc.store.base import DEFAULT_JOB_TTL_S, DEFAULT_PREFIX, Store
from router_svc.store.sqlite import open_sqlite_store


def open_store(
    redis_url: str | None,
    sqlite_path: Path,
    *,
    prefix: str = DEFAULT_PREFIX,
    job_ttl_s: int = DEFAULT_JOB_TTL_S,
) -> Store:
    """The Store for these settings; nothing connects or opens a file until the first call.

    ``prefix`` namespaces the Redis keys; the SQLite file needs none and ignores it.
    """
    if redis_url:
        try:
            from router_svc.store.redis import open_redis_store
        except ModuleNotFoundError as exc:
            raise (missing_extra(exc, "a Redis store") or exc) from exc
        return open_redis_store(redis_url, prefix=prefix, job_ttl_s=job_ttl_s)
    return open_sqlite_store(sqlite_path, job_ttl_s=job_ttl_s)
