"""The store's seams: the Cache and JobQueue protocols, their records, and the Store bundle."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from router_svc.errors import JobNotFoundError
from router_svc.store.feedback import FeedbackStore

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
CANCELLED = "cancelled"
JOB_STATUSES = (QUEUED, RUNNING, DONE, CANCELLED)
OPEN_STATUSES = (QUEUED, RUNNING)

DEFAULT_PREFIX = "router-svc:v1"
DEFAULT_JOB_TTL_S = 7 * 24 * 3600
_JOB_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


@dataclass(frozen=True)
class CacheStats:
    """Cache lookups counted by this process (not shared between processes)."""

    hits: int
    misses: int

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


@dataclass(frozen=True)
class JobInfo:
    """The state of one batch job; ``status`` is one of JOB_STATUSES."""

    id: str
    status: str
    total: int
    done: int
    failed: int
    created_at: float
    finished_at: float | None
    meta: dict[str, str]


@dataclass(frozen=True)
class WorkItem:
    """One claimed entry of a job: ``payload`` is JSON text, ``deliveries`` counts claims."""

    entry_id: str
    job_id: str
    index: int
    payload: str
    deliveries: int


class Cache(Protocol):
    """A string cache with per-key expiry."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl_s: int) -> None: ...

    async def stats(self) -> CacheStats: ...


class JobQueue(Protocol):
    """A batch job queue with at-least-once delivery and exactly-once results."""

    async def submit(
        self, job_id: str, payloads: Sequence[str], meta: Mapping[str, str]
    ) -> JobInfo: ...

    async def info(self, job_id: str) -> JobInfo: ...

    async def cancel(self, job_id: str) -> JobInfo: ...

    async def delete(self, job_id: str) -> JobInfo:
        """Remove the job, its items and its results (cancelling it first if it is open);
        returns its last state. A later ``complete`` of one of its items records nothing."""
        ...

    async def claim(
        self, consumer: str, count: int, *, block_ms: int, min_idle_ms: int
    ) -> list[WorkItem]: ...

    async def complete(self, item: WorkItem, result: str, *, failed: bool) -> bool: ...

    async def results(self, job_id: str) -> list[tuple[int, str]]: ...

    async def depth(self) -> int: ...


class Connection(Protocol):
    """What a Store closes and pings: the Redis client or the SQLite file."""

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...


@dataclass(frozen=True)
class Store:
    """The cache, the job queue and the feedback log of one backend, sharing one connection."""

    cache: Cache
    jobs: JobQueue
    connection: Connection
    feedback: FeedbackStore | None = None
    """Answered questions kept for feedback and the graded answers (``store.feedback``)."""

    async def close(self) -> None:
        await self.connection.close()

    async def ping(self) -> bool:
        """True if the backend answers; never raises."""
        return await self.connection.ping()


def cache_key(*parts: str) -> str:
    """sha256 hex of the parts; each part is length-prefixed so ("a", "bc") != ("ab", "c")."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8")
        digest.update(f"{len(data)}:".encode())
        digest.update(data)
    return digest.hexdigest()


def check_claim_args(consumer: str, count: int, block_ms: int, min_idle_ms: int) -> None:
    """Raise ValueError for claim arguments that no backend can honour."""
    if not consumer:
        raise ValueError("consumer must be a non-empty name")
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if block_ms < 0 or min_idle_ms < 0:
        raise ValueError(f"block_ms and min_idle_ms must be >= 0, got {block_ms}, {min_idle_ms}")


def valid_job_id(job_id: str) -> bool:
    """Job ids are 1-128 of [A-Za-z0-9_.-], so they cannot collide inside a Redis key."""
    return _JOB_ID.fullmatch(job_id) is not None


def check_job_id(job_id: str) -> None:
    if not valid_job_id(job_id):
        raise ValueError(f"job_id must be 1-128 characters of [A-Za-z0-9_.-], got {job_id!r}")


def check_ttl(ttl_s: int) -> None:
    if ttl_s < 1:
        raise ValueError(f"ttl_s must be >= 1 second, got {ttl_s}")


def job_not_found(job_id: str) -> JobNotFoundError:
    return JobNotFoundError(
        f"no job {job_id!r}; it was never submitted here or its records expired"
    )
