"""The Redis store: a cache of strings and a job queue on one stream with a consumer group.

Key layout (``prefix`` defaults to ``router-svc:v1``; every key has a TTL):

    {prefix}:cache:{key}         string   TTL = the ttl_s given to set()
    {prefix}:jobs:stream         stream   group "workers"; TTL = job TTL, renewed by submit
    {prefix}:job:{id}            hash     status, total, done, failed, created_at,
                                          finished_at ("" while open), meta (JSON); TTL = job TTL
    {prefix}:job:{id}:results    hash     index -> result; TTL = job TTL

An entry is XACKed and XDELed in the same script that records its result, so the stream holds
only entries that are not acked yet: ``depth()`` is XLEN, and a consumer group re-created at id
0 (after a Redis restart or a lost group) delivers exactly the unfinished work again.
Results are recorded with HSETNX inside that script, so a duplicate delivery never counts twice.
``delete()`` removes a job's keys and stream entries, the cluster mode's included
(``store.redis_delete``); every key is named in ``store.redis_keys``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import AuthenticationError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from router_svc.errors import ConfigError, StoreError
from router_svc.store.base import (
    DEFAULT_JOB_TTL_S,
    DEFAULT_PREFIX,
    DONE,
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
from router_svc.store.redis_delete import CANCEL_OPEN_JOB, RedisJobDeletion
from router_svc.store.redis_keys import GROUP, RedisKeys

logger = logging.getLogger(__name__)

T = TypeVar("T")
_SOCKET_TIMEOUT_S = 30.0

_SUBMIT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local total = #ARGV - 4
local status, finished = 'queued', ''
if total == 0 then status, finished = 'done', ARGV[2] end
redis.call('HSET', KEYS[1], 'status', status, 'total', total, 'done', 0, 'failed', 0,
  'created_at', ARGV[2], 'finished_at', finished, 'meta', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
for i = 5, #ARGV do
  redis.call('XADD', KEYS[2], '*', 'job', ARGV[1], 'index', i - 5, 'payload', ARGV[i])
end
if total > 0 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
return 1
"""

# KEYS[1] stream, KEYS[i] job hash of entry i-1; ARGV[1] group, ARGV[i] entry id.
_ADMIT = """
local keep = {}
for i = 2, #KEYS do
  local status = redis.call('HGET', KEYS[i], 'status')
  if status == 'queued' then redis.call('HSET', KEYS[i], 'status', 'running') end
  if status == 'queued' or status == 'running' then
    keep[i - 1] = 1
  else
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
    redis.call('XDEL', KEYS[1], ARGV[i])
    keep[i - 1] = 0
  end
end
return keep
"""

# KEYS job, results, stream; ARGV index, result, counter, entry id, group, now, ttl.
_COMPLETE = """
local recorded = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  recorded = redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
end
if recorded == 1 then
  redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
  local v = redis.call('HMGET', KEYS[1], 'total', 'done', 'failed', 'status')
  local open = v[4] == 'queued' or v[4] == 'running'
  if open and tonumber(v[2]) + tonumber(v[3]) >= tonumber(v[1]) then
    redis.call('HSET', KEYS[1], 'status', 'done', 'finished_at', ARGV[6])
  end
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  redis.call('EXPIRE', KEYS[2], ARGV[7])
end
redis.pcall('XACK', KEYS[3], ARGV[5], ARGV[4])
redis.pcall('XDEL', KEYS[3], ARGV[4])
return recorded
"""

_CANCEL = CANCEL_OPEN_JOB + "return redis.call('HGETALL', KEYS[1])\n"


def redact_url(url: str) -> str:
    """The URL without its password and query string, safe to show in messages and logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable Redis URL>"
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port}" if port else ""
    if parts.username or parts.password:
        netloc = f"{parts.username or ''}{':***' if parts.password else ''}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@contextmanager
def _translate_errors(url: str) -> Iterator[None]:
    """Re-raise redis-py (and socket) errors as StoreError, saying what to check."""
    try:
        yield
    except AuthenticationError as exc:
        raise StoreError(
            f"Redis at {url} refused the login ({exc}); check the user and password in the URL"
        ) from exc
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise StoreError(f"cannot reach Redis ({exc}); is Redis running at {url}?") from exc
    except ResponseError as exc:
        raise StoreError(
            f"Redis at {url} rejected a command ({exc}); it must be Redis >= 6.2 and nothing "
            "else may write under router-svc's key prefix"
        ) from exc
    except RedisError as exc:
        raise StoreError(f"Redis call failed ({exc}); is Redis running at {url}?") from exc


class RedisConnection:
    """One lazily connecting redis-py client; its pool reconnects after Redis restarts."""

    def __init__(self, url: str) -> None:
        self.url = redact_url(url)
        try:  # from_url only parses; the first command opens the first connection.
            self.client: Redis = Redis.from_url(
                url,
                decode_responses=True,
                protocol=2,
                socket_timeout=_SOCKET_TIMEOUT_S,
                socket_connect_timeout=5.0,
                retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=2),
            )
        except ValueError as exc:
            raise ConfigError(f"invalid Redis URL {self.url}: {exc}") from exc

    def translate(self) -> AbstractContextManager[None]:
        return _translate_errors(self.url)

    def max_block_ms(self, block_ms: int) -> int | None:
        """XREADGROUP's BLOCK argument: None for no wait, kept below the socket timeout."""
        if block_ms <= 0:
            return None
        timeout = self.client.connection_pool.connection_kwargs.get("socket_timeout")
        limit = int(float(timeout) * 800) if timeout else block_ms
        return max(1, min(block_ms, limit))

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.client.aclose()


class RedisCache:
    """Strings under ``{prefix}:cache:{key}`` with the TTL given to set()."""

    def __init__(self, conn: RedisConnection, prefix: str) -> None:
        self._conn = conn
        self._prefix = f"{prefix}:cache:"
        self._hits = 0
        self._misses = 0

    async def get(self, key: str) -> str | None:
        with self._conn.translate():
            value = await self._conn.client.get(self._prefix + key)
        if value is None:
            self._misses += 1
            return None
        self._hits += 1
        return _text(value)

    async def set(self, key: str, value: str, ttl_s: int) -> None:
        check_ttl(ttl_s)
        with self._conn.translate():
            await self._conn.client.set(self._prefix + key, value, ex=ttl_s)

    async def stats(self) -> CacheStats:
        return CacheStats(hits=self._hits, misses=self._misses)


@dataclass(frozen=True)
class _Entry:
    entry_id: str
    fields: dict[str, str]
    deliveries: int


class RedisJobQueue:
    """Batch jobs on one stream; see the module docstring for the key layout."""

    def __init__(
        self, conn: RedisConnection, prefix: str, *, job_ttl_s: int = DEFAULT_JOB_TTL_S
    ) -> None:
        check_ttl(job_ttl_s)
        self._conn = conn
        self._prefix = prefix
        self._keys = RedisKeys(prefix)
        self._stream = self._keys.jobs_stream
        self._job_ttl_s = job_ttl_s
        client = conn.client
        self._submit = client.register_script(_SUBMIT)
        self._admit_script = client.register_script(_ADMIT)
        self._complete = client.register_script(_COMPLETE)
        self._cancel = client.register_script(_CANCEL)
        self._deletion = RedisJobDeletion(client, self._keys)

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def job_ttl_s(self) -> int:
        return self._job_ttl_s

    @property
    def connection(self) -> RedisConnection:
        return self._conn

    def _job_key(self, job_id: str) -> str:
        return self._keys.job(job_id)

    async def submit(
        self, job_id: str, payloads: Sequence[str], meta: Mapping[str, str]
    ) -> JobInfo:
        check_job_id(job_id)
        now = time.time()
        args: list[str | float] = [job_id, now, json.dumps(dict(meta)), self._job_ttl_s, *payloads]
        with self._conn.translate():
            created = await self._submit(keys=[self._job_key(job_id), self._stream], args=args)
        if not created:
            raise StoreError(f"job {job_id!r} already exists; submit it under a new id")
        total = len(payloads)
        status, finished = (QUEUED, None) if total else (DONE, now)
        return JobInfo(job_id, status, total, 0, 0, now, finished, dict(meta))

    async def info(self, job_id: str) -> JobInfo:
        if not valid_job_id(job_id):
            raise job_not_found(job_id)
        with self._conn.translate():
            fields = await self._conn.client.hgetall(self._job_key(job_id))
        return _job_info(job_id, {_text(k): _text(v) for k, v in fields.items()})

    async def cancel(self, job_id: str) -> JobInfo:
        if not valid_job_id(job_id):
            raise job_not_found(job_id)
        with self._conn.translate():
            flat = await self._cancel(keys=[self._job_key(job_id)], args=[time.time()])
        return _job_info(job_id, _pairs(flat or []))

    async def delete(self, job_id: str) -> JobInfo:
        """Cancel the job if it is open, then remove its keys and stream entries."""
        if not valid_job_id(job_id):
            raise job_not_found(job_id)
        with self._conn.translate():
            fields = await self._deletion.delete(job_id)
        return _job_info(job_id, fields)

    async def claim(
        self, consumer: str, count: int, *, block_ms: int, min_idle_ms: int
    ) -> list[WorkItem]:
        """Reclaim idle entries, then read new ones; entries of closed jobs are acked, skipped."""
        check_claim_args(consumer, count, block_ms, min_idle_ms)
        with self._conn.translate():
            entries = await self._with_group(lambda: self._reclaim(consumer, count, min_idle_ms))
            wanted = count - len(entries)
            if wanted > 0:
                block = None if entries else self._conn.max_block_ms(block_ms)
                entries += await self._with_group(lambda: self._read_new(consumer, wanted, block))
            return await self._admit(entries)

    async def complete(self, item: WorkItem, result: str, *, failed: bool) -> bool:
        job_key = self._job_key(item.job_id)
        keys = [job_key, self._keys.results(item.job_id), self._stream]
        counter = "failed" if failed else "done"
        args: list[str | float] = [item.index, result, counter, item.entry_id, GROUP]
        args += [time.time(), self._job_ttl_s]
        with self._conn.translate():
            recorded = await self._complete(keys=keys, args=args)
        return bool(recorded)

    async def results(self, job_id: str) -> list[tuple[int, str]]:
        if not valid_job_id(job_id):
            raise job_not_found(job_id)
        job_key = self._job_key(job_id)
        with self._conn.translate():
            async with self._conn.client.pipeline(transaction=True) as pipe:
                pipe.exists(job_key)
                pipe.hgetall(self._keys.results(job_id))
                exists, rows = await pipe.execute()
        if not exists:
            raise job_not_found(job_id)
        return sorted((int(index), value) for index, value in rows.items())

    async def depth(self) -> int:
        with self._conn.translate():
            return int(await self._conn.client.xlen(self._stream))

    async def _with_group(self, op: Callable[[], Awaitable[T]]) -> T:
        """Run a group command; if the group is gone (NOGROUP), re-create it and retry once."""
        try:
            return await op()
        except ResponseError as exc:
            if not str(exc).startswith("NOGROUP"):
                raise
            logger.warning("consumer group %r missing on %s; re-creating it", GROUP, self._stream)
        await self._create_group()
        return await op()

    async def _create_group(self) -> None:
        client = self._conn.client
        try:
            await client.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        await client.expire(self._stream, self._job_ttl_s)

    async def _reclaim(self, consumer: str, count: int, min_idle_ms: int) -> list[_Entry]:
        client = self._conn.client
        found: list[tuple[str, dict[str, str]]] = []
        cursor = "0-0"
        while len(found) < count:
            reply = await client.xautoclaim(
                self._stream, GROUP, consumer, min_idle_ms, cursor, count=count - len(found)
            )
            cursor = reply[0]
            found += [(entry_id, fields) for entry_id, fields in reply[1] if fields]
            if cursor == "0-0":
                break
        deliveries = await self._deliveries(consumer, [entry_id for entry_id, _ in found])
        return [_Entry(eid, fields, n) for (eid, fields), n in zip(found, deliveries, strict=True)]

    async def _deliveries(self, consumer: str, entry_ids: list[str]) -> list[int]:
        if not entry_ids:
            return []
        async with self._conn.client.pipeline(transaction=False) as pipe:
            for entry_id in entry_ids:
                pipe.xpending_range(self._stream, GROUP, entry_id, entry_id, 1, consumer)
            replies = await pipe.execute()
        return [int(rows[0]["times_delivered"]) if rows else 1 for rows in replies]

    async def _read_new(self, consumer: str, count: int, block: int | None) -> list[_Entry]:
        reply = await self._conn.client.xreadgroup(
            GROUP, consumer, {self._stream: ">"}, count=count, block=block
        )
        streams = cast("list[tuple[str, list[tuple[str, dict[str, str]]]]]", reply)  # RESP2
        return [_Entry(eid, fields, 1) for _name, rows in streams for eid, fields in rows]

    async def _admit(self, entries: list[_Entry]) -> list[WorkItem]:
        """Mark jobs running; ack and drop entries whose job is cancelled, done or expired."""
        if not entries:
            return []
        job_keys = [self._job_key(entry.fields.get("job", "")) for entry in entries]
        ids = [entry.entry_id for entry in entries]
        keep = await self._admit_script(keys=[self._stream, *job_keys], args=[GROUP, *ids])
        return [_work_item(entry) for entry, flag in zip(entries, keep, strict=True) if flag]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _work_item(entry: _Entry) -> WorkItem:
    fields = entry.fields
    return WorkItem(
        entry.entry_id, fields["job"], int(fields["index"]), fields["payload"], entry.deliveries
    )


def _pairs(flat: Sequence[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _job_info(job_id: str, fields: Mapping[str, str]) -> JobInfo:
    if not fields:
        raise job_not_found(job_id)
    finished = fields.get("finished_at") or None
    return JobInfo(
        id=job_id,
        status=fields["status"],
        total=int(fields["total"]),
        done=int(fields["done"]),
        failed=int(fields["failed"]),
        created_at=float(fields["created_at"]),
        finished_at=float(finished) if finished else None,
        meta=json.loads(fields.get("meta") or "{}"),
    )


def open_redis_store(
    url: str, *, prefix: str = DEFAULT_PREFIX, job_ttl_s: int = DEFAULT_JOB_TTL_S
) -> Store:
    """A Store on the Redis at ``url``; nothing connects until the first call."""
    if not prefix:
        raise ValueError("prefix must be non-empty, for example 'router-svc:v1'")
    conn = RedisConnection(url)
    jobs = RedisJobQueue(conn, prefix, job_ttl_s=job_ttl_s)
    return Store(cache=RedisCache(conn, prefix), jobs=jobs, connection=conn)
