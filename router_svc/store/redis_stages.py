"""The cluster mode's stage streams on Redis: one stream per expert, one for aggregation.

Key layout, next to the job queue's (``{prefix}`` as in ``store.redis``; every key has the
job TTL):

    {prefix}:expert:{name}           stream   group "experts"; one entry per generation of a
                                              question: job, index, expert, sample (which
                                              draw of the expert; absent: 0)
    {prefix}:stage:aggregate         stream   group "aggregators"; one entry per question
                                              whose every answer (or failure) is in
    {prefix}:job:{id}:q:{index}      hash     want (generations asked), got, payload, routing,
                                              a:{slot} (one generation's answer record; the
                                              slot is the expert, then #{sample} past 0)
    {prefix}:job:{id}:stages         hash     routed, queued:{expert}, answered:{expert},
                                              failed:{expert}, duplicate:{expert} (answers
                                              generated again and dropped), aggregated
    {prefix}:workers                 set      consumer names that registered (job TTL)
    {prefix}:worker:{consumer}       hash     experts (JSON list), auto, aggregate, route, seen,
                                              loads (JSON); TTL = a few heartbeats

Each stage hand-over is one script: routing fans a question out and acks its job entry; an
answer is kept with HSETNX (a redelivered task never counts twice), and the answer that
completes a question queues its aggregation. The final result goes through the job queue's
own exactly-once script. Every script first reads the job's status: a task of a deleted job
(``RedisJobQueue.delete``) is acked and dropped, and writes nothing. Key names:
``store.redis_keys``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from redis.exceptions import ResponseError

from router_svc.store.base import DEFAULT_JOB_TTL_S, WorkItem
from router_svc.store.redis import _COMPLETE, RedisConnection, RedisJobQueue
from router_svc.store.redis_keys import AGGREGATE_GROUP, EXPERT_GROUP, GROUP, RedisKeys

T = TypeVar("T")

# KEYS jobs stream, job hash, question hash, stages hash, one expert stream per generation...
# ARGV group, entry id, job, index, payload, routing, ttl, (expert, sample) per generation...
_FAN_OUT = """
local status = redis.call('HGET', KEYS[2], 'status')
local routed = 0
local generations = (#ARGV - 7) / 2
if (status == 'queued' or status == 'running') and
   redis.call('HSETNX', KEYS[3], 'want', generations) == 1 then
  redis.call('HSET', KEYS[3], 'got', 0, 'payload', ARGV[5], 'routing', ARGV[6])
  for t = 1, generations do
    local expert, sample = ARGV[6 + 2 * t], ARGV[7 + 2 * t]
    redis.call('XADD', KEYS[4 + t], '*', 'job', ARGV[3], 'index', ARGV[4], 'expert', expert,
               'sample', sample)
    redis.call('EXPIRE', KEYS[4 + t], ARGV[7])
    redis.call('HINCRBY', KEYS[4], 'queued:' .. expert, 1)
  end
  redis.call('HINCRBY', KEYS[4], 'routed', 1)
  redis.call('EXPIRE', KEYS[3], ARGV[7])
  redis.call('EXPIRE', KEYS[4], ARGV[7])
  routed = 1
end
redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.pcall('XDEL', KEYS[1], ARGV[2])
return routed
"""

# KEYS expert stream, job hash, question hash, stages hash, aggregate stream
# ARGV group, entry id, expert, answer, counter, job, index, ttl, slot
_ANSWER = """
local status = redis.call('HGET', KEYS[2], 'status')
local recorded = 0
if (status == 'queued' or status == 'running') and redis.call('EXISTS', KEYS[3]) == 1 then
  recorded = redis.call('HSETNX', KEYS[3], 'a:' .. ARGV[9], ARGV[4])
end
if recorded == 1 then
  redis.call('HINCRBY', KEYS[4], ARGV[5] .. ':' .. ARGV[3], 1)
  local got = redis.call('HINCRBY', KEYS[3], 'got', 1)
  if got == tonumber(redis.call('HGET', KEYS[3], 'want')) then
    redis.call('XADD', KEYS[5], '*', 'job', ARGV[6], 'index', ARGV[7], 'payload', '')
    redis.call('EXPIRE', KEYS[5], ARGV[8])
  end
elseif status and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HINCRBY', KEYS[4], 'duplicate:' .. ARGV[3], 1)
end
redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.pcall('XDEL', KEYS[1], ARGV[2])
return recorded
"""


Generation = tuple[str, int]
"""One generation of a question: the expert and which sample of it (0 for its first draw)."""


def answer_slot(expert: str, sample: int) -> str:
    """Where one generation's answer is kept in its question's hash (and ``QuestionState``):
    the expert's name for its first sample (as before samples existed), ``name#n`` after."""
    return expert if sample == 0 else f"{expert}#{sample}"


@dataclass(frozen=True)
class StageEntry:
    """One claimed stage entry: ``stream`` is the expert's name, or "aggregate"."""

    stream: str
    entry_id: str
    job_id: str
    index: int
    deliveries: int
    sample: int = 0
    """Which sample of the expert the entry asks for (an expert entry; 0 for aggregation)."""


@dataclass(frozen=True)
class QuestionState:
    """What a question carries between stages: its payload, routing and answers so far
    (``answer_slot`` -> the generation's answer record)."""

    payload: str
    routing: str
    answers: dict[str, str]


@dataclass(frozen=True)
class WorkerInfo:
    """A live worker as it registered: which experts and stages it hosts."""

    consumer: str
    experts: list[str]
    auto: bool
    aggregate: bool
    route: bool
    seen: float
    loads: dict[str, int]


class RedisStages:
    """The stage streams of the cluster mode; see the module docstring."""

    def __init__(
        self, conn: RedisConnection, prefix: str, *, job_ttl_s: int = DEFAULT_JOB_TTL_S
    ) -> None:
        self._conn = conn
        self._prefix = prefix
        self._keys = RedisKeys(prefix)
        self._ttl = job_ttl_s
        self._fan_out = conn.client.register_script(_FAN_OUT)
        self._answer = conn.client.register_script(_ANSWER)
        self._complete = conn.client.register_script(_COMPLETE)

    def stream(self, expert: str) -> str:
        return self._keys.expert_stream(expert)

    @property
    def aggregate_stream(self) -> str:
        return self._keys.aggregate_stream

    def _job(self, job_id: str) -> str:
        return self._keys.job(job_id)

    def _question(self, job_id: str, index: int) -> str:
        return self._keys.question(job_id, index)

    async def fan_out(
        self, item: WorkItem, payload: str, routing: str, generations: Sequence[Generation]
    ) -> bool:
        """One task per generation onto its expert's stream, and ack the job entry; False if
        the question was routed before (a redelivery) or its job is closed."""
        job = self._job(item.job_id)
        keys = [self._keys.jobs_stream, job, self._question(item.job_id, item.index)]
        keys += [self._keys.stages(item.job_id), *(self.stream(e) for e, _ in generations)]
        args: list[str | int] = [GROUP, item.entry_id, item.job_id, item.index, payload, routing]
        args += [self._ttl, *(part for generation in generations for part in generation)]
        with self._conn.translate():
            return bool(await self._fan_out(keys=keys, args=args))

    async def answer(self, entry: StageEntry, expert: str, record: str, *, failed: bool) -> bool:
        """Keep one generation's answer once (its slot: the expert and the entry's sample);
        the last answer of a question queues aggregation."""
        job = self._job(entry.job_id)
        keys = [self.stream(expert), job, self._question(entry.job_id, entry.index)]
        keys += [self._keys.stages(entry.job_id), self.aggregate_stream]
        counter = "failed" if failed else "answered"
        args: list[str | int] = [EXPERT_GROUP, entry.entry_id, expert, record, counter]
        args += [entry.job_id, entry.index, self._ttl, answer_slot(expert, entry.sample)]
        with self._conn.translate():
            return bool(await self._answer(keys=keys, args=args))

    async def question(self, job_id: str, index: int) -> QuestionState | None:
        """The question's state, or None when it expired (or its job is gone)."""
        with self._conn.translate():
            fields = _hash(await self._conn.client.hgetall(self._question(job_id, index)))
        if not fields:
            return None
        answers = {k[2:]: v for k, v in fields.items() if k.startswith("a:")}
        return QuestionState(fields.get("payload", ""), fields.get("routing", "{}"), answers)

    async def finish(self, entry: StageEntry, result: str, *, failed: bool) -> bool:
        """Record the question's result exactly once and ack its aggregation entry."""
        job = self._job(entry.job_id)
        keys = [job, self._keys.results(entry.job_id), self.aggregate_stream]
        counter = "failed" if failed else "done"
        args: list[str | float] = [entry.index, result, counter, entry.entry_id, AGGREGATE_GROUP]
        with self._conn.translate():
            recorded = bool(await self._complete(keys=keys, args=[*args, time.time(), self._ttl]))
            if recorded:
                await self._conn.client.hincrby(self._keys.stages(entry.job_id), "aggregated", 1)
        return recorded

    async def claim(
        self, consumer: str, streams: Sequence[str], count: int, *, min_idle_ms: int
    ) -> list[StageEntry]:
        """Up to ``count`` entries per stream (expert names, or "aggregate"): first those a
        dead consumer left idle for ``min_idle_ms``, then new ones; never blocks."""
        entries: list[StageEntry] = []
        with self._conn.translate():
            for name in streams:
                got = await self._claim_one(name, consumer, count, min_idle_ms)
                entries += [StageEntry(name, *row) for row in got]
        return entries

    async def _claim_one(
        self, name: str, consumer: str, count: int, min_idle_ms: int
    ) -> list[_Row]:
        key, group = self._key_group(name)

        async def reclaim() -> list[_Row]:
            return await self._reclaim(key, group, consumer, count, min_idle_ms)

        got = await self._with_group(key, group, reclaim)
        wanted = count - len(got)

        async def read() -> list[_Row]:
            return await self._read(key, group, consumer, wanted)

        if wanted > 0:
            got += await self._with_group(key, group, read)
        return got

    async def extend(self, consumer: str, entries: Sequence[StageEntry]) -> None:
        """The claim heartbeat: reset the idle time of entries still being worked on (XCLAIM
        JUSTID does not count a delivery), so no other worker reclaims them meanwhile."""
        by_stream: dict[str, list[str]] = {}
        for entry in entries:
            by_stream.setdefault(entry.stream, []).append(entry.entry_id)
        with self._conn.translate():
            for name, ids in by_stream.items():
                key, group = self._key_group(name)
                claimed: list[str | bytes | int | memoryview] = list(ids)
                await self._conn.client.xclaim(key, group, consumer, 0, claimed, justid=True)

    async def backlog(self, experts: Sequence[str]) -> dict[str, int]:
        """Entries not yet answered per expert stream (new and pending)."""
        with self._conn.translate():
            async with self._conn.client.pipeline(transaction=False) as pipe:
                for expert in experts:
                    pipe.xlen(self.stream(expert))
                lengths = await pipe.execute()
        return {e: int(n) for e, n in zip(experts, lengths, strict=True)}

    async def stage_counts(self, job_id: str) -> dict[str, int]:
        with self._conn.translate():
            fields = _hash(await self._conn.client.hgetall(self._keys.stages(job_id)))
        return {k: int(v) for k, v in fields.items()}

    async def register(self, info: WorkerInfo, ttl_s: int) -> None:
        """Announce (or renew) a live worker; it counts as dead ``ttl_s`` after its last call."""
        key = f"{self._prefix}:worker:{info.consumer}"
        mapping: dict[str | bytes | bytearray | memoryview | int | float, Any] = {
            "experts": json.dumps(info.experts),
            "auto": int(info.auto),
            "aggregate": int(info.aggregate),
            "route": int(info.route),
            "seen": info.seen,
            "loads": json.dumps(info.loads),
        }
        with self._conn.translate():
            async with self._conn.client.pipeline(transaction=True) as pipe:
                pipe.sadd(f"{self._prefix}:workers", info.consumer)
                pipe.expire(f"{self._prefix}:workers", self._ttl)
                pipe.hset(key, mapping=mapping)
                pipe.expire(key, ttl_s)
                await pipe.execute()

    async def unregister(self, consumer: str) -> None:
        with self._conn.translate():
            await self._conn.client.delete(f"{self._prefix}:worker:{consumer}")
            await self._conn.client.srem(f"{self._prefix}:workers", consumer)

    async def workers(self) -> list[WorkerInfo]:
        """The live workers (registrations that have not expired)."""
        client = self._conn.client
        with self._conn.translate():
            names = sorted(_text(n) for n in await client.smembers(f"{self._prefix}:workers"))
            live = []
            for name in names:
                fields = _hash(await client.hgetall(f"{self._prefix}:worker:{name}"))
                if fields:
                    live.append(_worker_info(name, fields))
        return live

    def _key_group(self, name: str) -> tuple[str, str]:
        return self._keys.stage(name)

    async def _with_group(self, key: str, group: str, op: Callable[[], Awaitable[T]]) -> T:
        """Run a group command; create the group (at id 0) when it is missing and retry."""
        try:
            return await op()
        except ResponseError as exc:
            if not str(exc).startswith("NOGROUP"):
                raise
        try:
            await self._conn.client.xgroup_create(key, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        await self._conn.client.expire(key, self._ttl)
        return await op()

    async def _reclaim(
        self, key: str, group: str, consumer: str, count: int, min_idle_ms: int
    ) -> list[_Row]:
        client = self._conn.client
        reply = await client.xautoclaim(key, group, consumer, min_idle_ms, "0-0", count=count)
        rows = [(eid, fields) for eid, fields in reply[1] if fields]
        out = []
        for eid, fields in rows:
            pending = await client.xpending_range(key, group, eid, eid, 1, consumer)
            times = int(pending[0]["times_delivered"]) if pending else 1
            out.append(_row(eid, fields, times))
        return out

    async def _read(self, key: str, group: str, consumer: str, count: int) -> list[_Row]:
        reply = await self._conn.client.xreadgroup(group, consumer, {key: ">"}, count=count)
        streams = cast("list[tuple[str, list[tuple[str, dict[str, str]]]]]", reply)
        return [_row(e, f, 1) for _n, rows in streams for e, f in rows]


_Row = tuple[str, str, int, int, int]
"""A claimed entry as ``StageEntry`` takes it after the stream: id, job, index, deliveries,
sample."""


def _row(entry_id: str, fields: Mapping[str, str], deliveries: int) -> _Row:
    sample = int(fields.get("sample") or 0)  # entries queued before samples had none
    return (entry_id, fields["job"], int(fields["index"]), deliveries, sample)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _hash(fields: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in fields.items()}


def _worker_info(name: str, fields: Mapping[str, str]) -> WorkerInfo:
    return WorkerInfo(
        consumer=name,
        experts=json.loads(fields.get("experts") or "[]"),
        auto=fields.get("auto") == "1",
        aggregate=fields.get("aggregate") == "1",
        route=fields.get("route") == "1",
        seen=float(fields.get("seen") or 0),
        loads=json.loads(fields.get("loads") or "{}"),
    )


def stages_of(jobs: object) -> RedisStages | None:
    """The stage streams next to a Redis job queue; None for other stores (cluster mode
    needs Redis)."""
    if not isinstance(jobs, RedisJobQueue):
        return None
    return RedisStages(jobs.connection, jobs.prefix, job_ttl_s=jobs.job_ttl_s)
