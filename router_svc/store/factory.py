"""open_store: Redis when a URL is configured, else the embedded SQLite file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from router_svc.config.extras import missing_extra
from router_svc.store.base import DEFAULT_JOB_TTL_S, DEFAULT_PREFIX, Store
from router_svc.store.feedback import DEFAULT_CONTEXT_TTL_S, DEFAULT_MAX_CONTEXTS
from router_svc.store.sqlite import SqliteDatabase, open_sqlite_store
from router_svc.store.sqlite_feedback import SqliteFeedbackStore


def open_store(
    redis_url: str | None,
    sqlite_path: Path,
    *,
    prefix: str = DEFAULT_PREFIX,
    job_ttl_s: int = DEFAULT_JOB_TTL_S,
    context_ttl_s: int = DEFAULT_CONTEXT_TTL_S,
    max_contexts: int = DEFAULT_MAX_CONTEXTS,
) -> Store:
    """The Store for these settings; nothing connects or opens a file until the first call.

    ``prefix`` namespaces the Redis keys; the SQLite file needs none and ignores it. Answered
    questions are kept for feedback ``context_ttl_s`` seconds, ``max_contexts`` at most.
    """
    if redis_url:
        try:
            from router_svc.store.redis import open_redis_store
        except ModuleNotFoundError as exc:
            raise (missing_extra(exc, "a Redis store") or exc) from exc
        from router_svc.store.redis import RedisConnection
        from router_svc.store.redis_feedback import RedisFeedbackStore

        store = open_redis_store(redis_url, prefix=prefix, job_ttl_s=job_ttl_s)
        if not isinstance(store.connection, RedisConnection):
            raise TypeError("a Redis store holds a Redis connection")
        return replace(
            store,
            feedback=RedisFeedbackStore(
                store.connection, prefix, context_ttl_s=context_ttl_s, max_contexts=max_contexts
            ),
        )
    store = open_sqlite_store(sqlite_path, job_ttl_s=job_ttl_s)
    if not isinstance(store.connection, SqliteDatabase):
        raise TypeError("a SQLite store holds a SQLite database")
    return replace(
        store,
        feedback=SqliteFeedbackStore(
            store.connection, context_ttl_s=context_ttl_s, max_contexts=max_contexts
        ),
    )
