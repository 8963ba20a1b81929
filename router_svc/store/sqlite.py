"""The embedded store: the same Cache and JobQueue on one SQLite file, for when there is no Redis.

stdlib sqlite3 runs in worker threads (``asyncio.to_thread``) behind one lock per file; the file
is in WAL mode, so several processes may share it. Tables (``PRAGMA user_version`` = 1):

    cache    key, value, expires_at                      expired rows are deleted by set()
    jobs     id, status, total, done, failed, created_at, finished_at, meta (JSON), expires_at
    items    seq (the entry id), job_id, idx, payload, lease_owner, leased_at, deliveries, acked
    results  (job_id, idx) primary key, value            INSERT OR IGNORE: recorded exactly once

A claim leases an item (lease_owner, leased_at); a lease older than min_idle_ms is reclaimed by
the next claim. Rows of expired jobs are deleted by submit(), a job's rows by delete().
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from router_svc.errors import StoreError
from router_svc.store.base import (
    DEFAULT_JOB_TTL_S,
    DONE,
    OPEN_STATUSES,
    QUEUED,
    CacheStats,
    JobInfo,
    Store,
    WorkItem,
    check_claim_args,
    check_job_id,
    check_ttl,
    job_not_found,
    valid_job_id,
)

T = TypeVar("T")
SCHEMA_VERSION = 1
_POLL_S = 0.05

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cache (
  key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS cache_expiry ON cache (expires_at);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, status TEXT NOT NULL, total INTEGER NOT NULL,
  done INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
  created_at REAL NOT NULL, finished_at REAL, meta TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS items (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, idx INTEGER NOT NULL,
  payload TEXT NOT NULL, lease_owner TEXT, leased_at REAL,
  deliveries INTEGER NOT NULL DEFAULT 0, acked INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS items_open ON items (acked, seq);
CREATE INDEX IF NOT EXISTS items_job ON items (job_id);
CREATE TABLE IF NOT EXISTS results (
  job_id TEXT NOT NULL, idx INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (job_id, idx));
"""

_JOB_COLUMNS = "id, status, total, done, failed, created_at, finished_at, meta"

_CLAIMABLE = """
SELECT i.seq, i.job_id, i.idx, i.payload, i.deliveries, j.status
FROM items i LEFT JOIN jobs j ON j.id = i.job_id AND j.expires_at > :now
WHERE i.acked = 0
  AND (i.lease_owner IS NULL OR (i.leased_at <= :stale AND i.leased_at < :now))
ORDER BY i.lease_owner IS NULL, i.seq LIMIT :limit
"""


@contextmanager
def _translate_errors(path: Path) -> Iterator[None]:
    """Re-raise sqlite3 and file-system errors as StoreError, saying what to check."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(
            f"SQLite store {path} failed ({exc}); check that its directory is writable and "
            "that the file is a router-svc store not locked by another program"
        ) from exc


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


class SqliteDatabase:
    """One lazily opened SQLite connection, used from worker threads under a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock, _translate_errors(self.path):
            if self._conn is None:
                self._conn = _connect(self.path)
            return fn(self._conn)

    async def ping(self) -> bool:
        try:
            return await self.run(lambda conn: conn.execute("SELECT 1").fetchone() == (1,))
        except StoreError:
            return False

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by a newer router-svc (schema {version}); upgrade router-svc"
            )
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteCache:
    """The cache table; hits and misses are counted by this process."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._hits = 0
        self._misses = 0

    async def get(self, key: str) -> str | None:
        sql = "SELECT value FROM cache WHERE key = ? AND expires_at > ?"
        row = await self._db.run(lambda conn: conn.execute(sql, (key, time.time())).fetchone())
        if row is None:
            self._misses += 1
            return None
        self._hits += 1
        return str(row[0])

    async def set(self, key: str, value: str, ttl_s: int) -> None:
        check_ttl(ttl_s)
        await self._db.run(lambda conn: _cache_set(conn, key, value, ttl_s))

    async def stats(self) -> CacheStats:
        return CacheStats(hits=self._hits, misses=self._misses)


def _cache_set(conn: sqlite3.Connection, key: str, value: str, ttl_s: int) -> None:
    now = time.time()
    with _transaction(conn):
        conn.execute("DELETE FROM cache WHERE expires_at <= ?", (now,))
        conn.execute(
            "INSERT INTO cache (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) "
            "DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            (key, value, now + ttl_s),
        )


class SqliteJobQueue:
    """The jobs, items and results tables; same semantics as RedisJobQueue."""

    def __init__(self, db: SqliteDatabase, *, job_ttl_s: int = DEFAULT_JOB_TTL_S) -> None:
        check_ttl(job_ttl_s)
        self._db = db
        self._job_ttl_s = job_ttl_s

    async def submit(
        self, job_id: str, payloads: Sequence[str], meta: Mapping[str, str]
    ) -> JobInfo:
        check_job_id(job_id)
        job = JobInfo(job_id, QUEUED, len(payloads), 0, 0, time.time(), None, dict(meta))
        if not payloads:
            job = JobInfo(job_id, DONE, 0, 0, 0, job.created_at, job.created_at, dict(meta))
        await self._db.run(lambda conn: self._submit(conn, job, payloads))
        return job

    def _submit(self, conn: sqlite3.Connection, job: JobInfo, payloads: Sequence[str]) -> None:
        with _transaction(conn):
            _purge_expired(conn, job.created_at)
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job.id,)).fetchone():
                raise StoreError(f"job {job.id!r} already exists; submit it under a new id")
            conn.execute(
                f"INSERT INTO jobs ({_JOB_COLUMNS}, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*_job_row(job), job.created_at + self._job_ttl_s),
            )
            conn.executemany(
                "INSERT INTO items (job_id, idx, payload) VALUES (?, ?, ?)",
                [(job.id, index, payload) for index, payload in enumerate(payloads)],
            )

    async def info(self, job_id: str) -> JobInfo:
        row = await self._db.run(lambda conn: _job_select(conn, job_id))
        if row is None:
            raise job_not_found(job_id)
        return _job_info(row)

    async def cancel(self, job_id: str) -> JobInfo:
        row = await self._db.run(lambda conn: _cancel(conn, job_id))
        if row is None:
            raise job_not_found(job_id)
        return _job_info(row)

    async def delete(self, job_id: str) -> JobInfo:
        """Cancel the job if it is open, then delete its row, items and results."""
        row = await self._db.run(lambda conn: _delete(conn, job_id))
        if row is None:
            raise job_not_found(job_id)
        return _job_info(row)

    async def claim(
        self, consumer: str, count: int, *, block_ms: int, min_idle_ms: int
    ) -> list[WorkItem]:
        """Lease stale then new items; polls every 50 ms for up to block_ms while none is there."""
        check_claim_args(consumer, count, block_ms, min_idle_ms)
        deadline = time.monotonic() + block_ms / 1000
        while True:
            items = await self._db.run(lambda conn: _claim(conn, consumer, count, min_idle_ms))
            remaining = deadline - time.monotonic()
            if items or remaining <= 0:
                return items
            await asyncio.sleep(min(_POLL_S, remaining))

    async def complete(self, item: WorkItem, result: str, *, failed: bool) -> bool:
        ttl_s = self._job_ttl_s
        return await self._db.run(lambda conn: _complete(conn, item, result, failed, ttl_s))

    async def results(self, job_id: str) -> list[tuple[int, str]]:
        rows = await self._db.run(lambda conn: _results(conn, job_id))
        if rows is None:
            raise job_not_found(job_id)
        return rows

    async def depth(self) -> int:
        sql = "SELECT COUNT(*) FROM items WHERE acked = 0"
        return int(await self._db.run(lambda conn: conn.execute(sql).fetchone()[0]))


def _job_row(job: JobInfo) -> tuple[object, ...]:
    meta = json.dumps(job.meta)
    created, finished = job.created_at, job.finished_at
    return (job.id, job.status, job.total, job.done, job.failed, created, finished, meta)


def _job_info(row: Sequence[object]) -> JobInfo:
    job_id, status, total, done, failed, created_at, finished_at, meta = row
    return JobInfo(
        id=str(job_id),
        status=str(status),
        total=int(str(total)),
        done=int(str(done)),
        failed=int(str(failed)),
        created_at=float(str(created_at)),
        finished_at=None if finished_at is None else float(str(finished_at)),
        meta=json.loads(str(meta)),
    )


def _job_select(conn: sqlite3.Connection, job_id: str) -> tuple[object, ...] | None:
    if not valid_job_id(job_id):
        return None
    sql = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ? AND expires_at > ?"
    row: tuple[object, ...] | None = conn.execute(sql, (job_id, time.time())).fetchone()
    return row


def _purge_expired(conn: sqlite3.Connection, now: float) -> None:
    expired = "SELECT id FROM jobs WHERE expires_at <= ?"
    conn.execute(f"DELETE FROM items WHERE job_id IN ({expired})", (now,))
    conn.execute(f"DELETE FROM results WHERE job_id IN ({expired})", (now,))
    conn.execute("DELETE FROM jobs WHERE expires_at <= ?", (now,))


def _cancel(conn: sqlite3.Connection, job_id: str) -> tuple[object, ...] | None:
    with _transaction(conn):
        return _close(conn, job_id)


def _close(conn: sqlite3.Connection, job_id: str) -> tuple[object, ...] | None:
    """Mark an open job cancelled (inside the caller's transaction); its row, or None."""
    conn.execute(
        "UPDATE jobs SET status = 'cancelled', finished_at = ? "
        "WHERE id = ? AND status IN ('queued', 'running')",
        (time.time(), job_id),
    )
    return _job_select(conn, job_id)


def _delete(conn: sqlite3.Connection, job_id: str) -> tuple[object, ...] | None:
    """The job's last state (cancelled if it was open); its rows are gone when this returns."""
    with _transaction(conn):
        row = _close(conn, job_id)
        if row is not None:
            for table, column in (("items", "job_id"), ("results", "job_id"), ("jobs", "id")):
                conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (job_id,))
        return row


def _claim(conn: sqlite3.Connection, consumer: str, count: int, min_idle_ms: int) -> list[WorkItem]:
    now = time.time()
    params = {"now": now, "stale": now - min_idle_ms / 1000}
    items: list[WorkItem] = []
    with _transaction(conn):
        while len(items) < count:
            rows = conn.execute(_CLAIMABLE, {**params, "limit": count - len(items)}).fetchall()
            if not rows:
                break
            items += [item for row in rows if (item := _lease(conn, row, consumer, now))]
    return items


def _lease(
    conn: sqlite3.Connection,
    row: tuple[int, str, int, str, int, str | None],
    consumer: str,
    now: float,
) -> WorkItem | None:
    """Lease one item to ``consumer``, or ack it unrun if its job is closed or gone."""
    seq, job_id, index, payload, deliveries, status = row
    if status not in OPEN_STATUSES:
        conn.execute("UPDATE items SET acked = 1, lease_owner = NULL WHERE seq = ?", (seq,))
        return None
    conn.execute(
        "UPDATE items SET lease_owner = ?, leased_at = ?, deliveries = deliveries + 1 "
        "WHERE seq = ?",
        (consumer, now, seq),
    )
    conn.execute("UPDATE jobs SET status = 'running' WHERE id = ? AND status = 'queued'", (job_id,))
    return WorkItem(str(seq), job_id, index, payload, deliveries + 1)


def _complete(
    conn: sqlite3.Connection, item: WorkItem, result: str, failed: bool, ttl_s: int
) -> bool:
    now = time.time()
    with _transaction(conn):
        recorded = False
        if _job_select(conn, item.job_id) is not None:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO results (job_id, idx, value) VALUES (?, ?, ?)",
                (item.job_id, item.index, result),
            )
            recorded = cursor.rowcount == 1
        if recorded:
            _count_result(conn, item.job_id, failed, now, ttl_s)
        conn.execute(
            "UPDATE items SET acked = 1, lease_owner = NULL WHERE seq = ?", (int(item.entry_id),)
        )
    return recorded


def _count_result(
    conn: sqlite3.Connection, job_id: str, failed: bool, now: float, ttl: int
) -> None:
    conn.execute(
        "UPDATE jobs SET done = done + ?, failed = failed + ?, expires_at = ? WHERE id = ?",
        (0 if failed else 1, 1 if failed else 0, now + ttl, job_id),
    )
    conn.execute(
        "UPDATE jobs SET status = 'done', finished_at = ? WHERE id = ? "
        "AND status IN ('queued', 'running') AND done + failed >= total",
        (now, job_id),
    )


def _results(conn: sqlite3.Connection, job_id: str) -> list[tuple[int, str]] | None:
    if _job_select(conn, job_id) is None:
        return None
    sql = "SELECT idx, value FROM results WHERE job_id = ? ORDER BY idx"
    return [(int(index), str(value)) for index, value in conn.execute(sql, (job_id,))]


def open_sqlite_store(path: Path, *, job_ttl_s: int = DEFAULT_JOB_TTL_S) -> Store:
    """A Store in the SQLite file at ``path``; the file is created on the first call."""
    db = SqliteDatabase(path)
    jobs = SqliteJobQueue(db, job_ttl_s=job_ttl_s)
    return Store(cache=SqliteCache(db), jobs=jobs, connection=db)
