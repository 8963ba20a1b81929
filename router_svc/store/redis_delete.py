"""Deleting a batch job from Redis: its keys, its cluster-mode stage state, its stream entries.

One script cancels the job if it is open, reads its last state and the stage counters (which
name the experts its questions went to), and deletes the job hash, its results and its counters.
From then on every script of the queue (``store.redis``) and of the stages
(``store.redis_stages``) finds no job and records nothing for it, so a worker that finishes one
of its items only acks the entry. The per-question hashes and the job's entries in the job
stream, the experts' streams and the aggregation stream are removed afterwards, a chunk per
call, so a large job never holds Redis for long.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import cast

from redis.asyncio import Redis

from router_svc.store.redis_keys import AGGREGATE, GROUP, RedisKeys

_CHUNK = 500

CANCEL_OPEN_JOB = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
if status == 'queued' or status == 'running' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[1])
end
"""
"""The start of a script over the job hash KEYS[1] (ARGV[1]: now): no such job returns false;
an open one is cancelled."""

# KEYS job hash, results hash, stages hash; ARGV now.
_DELETE = (
    CANCEL_OPEN_JOB
    + """
local job = redis.call('HGETALL', KEYS[1])
local counters = redis.call('HKEYS', KEYS[3])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return {job, counters}
"""
)

# KEYS stream; ARGV group, entry ids (at least one).
_DROP = """
for i = 2, #ARGV do
  redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[i])
end
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
"""

_Rows = list[tuple[str, dict[str, str]]]


class RedisJobDeletion:
    """``delete(job_id)``: see the module docstring."""

    def __init__(self, client: Redis, keys: RedisKeys) -> None:
        self._client = client
        self._keys = keys
        self._delete = client.register_script(_DELETE)
        self._drop = client.register_script(_DROP)

    async def delete(self, job_id: str) -> dict[str, str]:
        """The job's last fields (cancelled if it was open); empty when there is no such job.
        When this returns, nothing of the job is left in Redis."""
        keys = self._keys
        hashes = [keys.job(job_id), keys.results(job_id), keys.stages(job_id)]
        reply = await self._delete(keys=hashes, args=[time.time()])
        if not reply:
            return {}
        flat, counters = cast("tuple[list[str], list[str]]", reply)
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        streams = [(keys.jobs_stream, GROUP)]
        if counters:  # the cluster mode fanned some of its questions out
            await self._unlink_questions(job_id, int(fields.get("total") or 0))
            streams += [keys.stage(expert) for expert in _experts(counters)]
            streams.append(keys.stage(AGGREGATE))
        for stream, group in streams:
            await self._drop_entries(stream, group, job_id)
        return fields

    async def _unlink_questions(self, job_id: str, total: int) -> None:
        for start in range(0, total, _CHUNK):
            names = [
                self._keys.question(job_id, i) for i in range(start, min(total, start + _CHUNK))
            ]
            await self._client.unlink(*names)

    async def _drop_entries(self, stream: str, group: str, job_id: str) -> None:
        """Ack and delete the job's entries of ``stream``, read a chunk at a time."""
        start = "-"
        while True:
            reply = await self._client.xrange(stream, min=start, max="+", count=_CHUNK)
            rows = cast("_Rows", reply)
            ids = [entry_id for entry_id, fields in rows if fields.get("job") == job_id]
            if ids:
                await self._drop(keys=[stream], args=[group, *ids])
            if len(rows) < _CHUNK:
                return
            start = f"({rows[-1][0]}"


def _experts(counters: Sequence[str]) -> list[str]:
    """The experts named by ``queued:{expert}`` stage counters."""
    return sorted({name.partition(":")[2] for name in counters if name.startswith("queued:")})
