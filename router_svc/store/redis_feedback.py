"""Feedback on Redis: every API process and worker reads the same log.

Key layout (``prefix`` defaults to ``router-svc:v1``; every key has a TTL):

    {prefix}:feedback:context:{id}      string  an AnsweredContext (JSON); TTL = context TTL
    {prefix}:feedback:contexts          zset    id -> created_at, the oldest trimmed past
                                                ``max_contexts`` (their strings deleted too)
    {prefix}:feedback:log:{suite}       stream  one entry per FeedbackRecord (field "record");
                                                TTL = feedback TTL, renewed by every add
    {prefix}:feedback:graded:{suite}    set     the graded ids (one grade per answer)
    {prefix}:feedback:drops:{suite}     string  how often the log was dropped; TTL = feedback TTL

``add`` checks the graded set and appends in one script, so two processes grading the same
answer at once write one record. Appends are durable as far as Redis is (AOF fsync policy).
"""

from __future__ import annotations

from router_svc.store.feedback import (
    DEFAULT_CONTEXT_TTL_S,
    DEFAULT_FEEDBACK_TTL_S,
    DEFAULT_MAX_CONTEXTS,
    START,
    AnsweredContext,
    FeedbackPage,
    FeedbackRecord,
)
from router_svc.store.redis import RedisConnection

PAGE = 1000
"""Stream entries read per XRANGE call."""

# KEYS context, index; ARGV id, json, ttl, created_at, max.
_REMEMBER = """
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #old, 2 do redis.call('DEL', ARGV[6] .. old[i]) end
end
return 1
"""

# KEYS graded set, log; ARGV id, record json, ttl.
_ADD = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return false end
local entry = redis.call('XADD', KEYS[2], '*', 'record', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return entry
"""


class RedisFeedbackStore:
    """``FeedbackStore`` on Redis (module docstring)."""

    def __init__(
        self,
        conn: RedisConnection,
        prefix: str,
        *,
        context_ttl_s: int = DEFAULT_CONTEXT_TTL_S,
        max_contexts: int = DEFAULT_MAX_CONTEXTS,
        feedback_ttl_s: int = DEFAULT_FEEDBACK_TTL_S,
    ) -> None:
        self._conn = conn
        self._prefix = f"{prefix}:feedback"
        self.context_ttl_s = context_ttl_s
        self.max_contexts = max_contexts
        self.feedback_ttl_s = feedback_ttl_s
        self._remember = conn.client.register_script(_REMEMBER)
        self._add = conn.client.register_script(_ADD)

    def _context_key(self, completion_id: str) -> str:
        return f"{self._prefix}:context:{completion_id}"

    def _log(self, suite: str) -> str:
        return f"{self._prefix}:log:{suite}"

    def _graded(self, suite: str) -> str:
        return f"{self._prefix}:graded:{suite}"

    async def remember(self, context: AnsweredContext) -> None:
        keys = [self._context_key(context.id), f"{self._prefix}:contexts"]
        args: list[str | int | float] = [context.id, context.to_json(), self.context_ttl_s]
        args += [context.created_at, self.max_contexts, f"{self._prefix}:context:"]
        with self._conn.translate():
            await self._remember(keys=keys, args=args)

    async def context(self, completion_id: str) -> AnsweredContext | None:
        with self._conn.translate():
            text = await self._conn.client.get(self._context_key(completion_id))
        return None if text is None else AnsweredContext.from_json(str(text))

    async def add(self, record: FeedbackRecord) -> bool:
        keys = [self._graded(record.suite), self._log(record.suite)]
        with self._conn.translate():
            entry = await self._add(
                keys=keys, args=[record.id, record.to_json(), self.feedback_ttl_s]
            )
        return entry is not None

    async def since(self, suite: str, cursor: str = START) -> FeedbackPage:
        records: list[FeedbackRecord] = []
        with self._conn.translate():
            drops = int(await self._conn.client.get(f"{self._prefix}:drops:{suite}") or 0)
            while True:
                start = "-" if cursor == START else f"({cursor}"
                entries = await self._conn.client.xrange(self._log(suite), start, "+", PAGE) or []
                for entry_id, fields in entries:
                    records.append(FeedbackRecord.from_json(str((fields or {})["record"])))
                    cursor = str(entry_id)
                if len(entries) < PAGE:
                    return FeedbackPage(records, cursor, drops)

    async def drop(self, suite: str) -> int:
        with self._conn.translate():
            count = int(await self._conn.client.xlen(self._log(suite)))
            await self._conn.client.delete(self._log(suite), self._graded(suite))
            drops = f"{self._prefix}:drops:{suite}"
            await self._conn.client.incr(drops)
            await self._conn.client.expire(drops, self.feedback_ttl_s)
        return count
