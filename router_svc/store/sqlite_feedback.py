"""Feedback in the embedded SQLite file (the store of a service that runs without Redis).

Tables (created on first use): ``feedback_contexts`` (id, created_at, expires_at, json; the
oldest trimmed past ``max_contexts``) and ``feedback`` (seq, suite, id, json; one row per
graded answer, UNIQUE (suite, id)). The cursor is the last ``seq`` read.
"""

from __future__ import annotations

import sqlite3
import time

from router_svc.store.feedback import (
    DEFAULT_CONTEXT_TTL_S,
    DEFAULT_MAX_CONTEXTS,
    START,
    AnsweredContext,
    FeedbackPage,
    FeedbackRecord,
)
from router_svc.store.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback_contexts (
  id TEXT PRIMARY KEY, created_at REAL NOT NULL, expires_at REAL NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS feedback_contexts_age ON feedback_contexts (created_at);
CREATE TABLE IF NOT EXISTS feedback (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, suite TEXT NOT NULL, id TEXT NOT NULL,
  value TEXT NOT NULL, UNIQUE (suite, id));
CREATE TABLE IF NOT EXISTS feedback_drops (suite TEXT PRIMARY KEY, drops INTEGER NOT NULL);
"""


class SqliteFeedbackStore:
    """``FeedbackStore`` in the SQLite file (module docstring)."""

    def __init__(
        self,
        db: SqliteDatabase,
        *,
        context_ttl_s: int = DEFAULT_CONTEXT_TTL_S,
        max_contexts: int = DEFAULT_MAX_CONTEXTS,
    ) -> None:
        self._db = db
        self.context_ttl_s = context_ttl_s
        self.max_contexts = max_contexts
        self._ready = False

    def _schema(self, conn: sqlite3.Connection) -> None:
        if not self._ready:
            conn.executescript(_SCHEMA)
            self._ready = True

    async def remember(self, context: AnsweredContext) -> None:
        def write(conn: sqlite3.Connection) -> None:
            self._schema(conn)
            expires = time.time() + self.context_ttl_s
            conn.execute(
                "INSERT OR REPLACE INTO feedback_contexts VALUES (?, ?, ?, ?)",
                (context.id, context.created_at, expires, context.to_json()),
            )
            conn.execute(
                "DELETE FROM feedback_contexts WHERE expires_at <= ? OR id IN (SELECT id FROM "
                "feedback_contexts ORDER BY created_at DESC LIMIT -1 OFFSET ?)",
                (time.time(), self.max_contexts),
            )

        await self._db.run(write)

    async def context(self, completion_id: str) -> AnsweredContext | None:
        def read(conn: sqlite3.Connection) -> str | None:
            self._schema(conn)
            sql = "SELECT value FROM feedback_contexts WHERE id = ? AND expires_at > ?"
            row = conn.execute(sql, (completion_id, time.time())).fetchone()
            return None if row is None else str(row[0])

        text = await self._db.run(read)
        return None if text is None else AnsweredContext.from_json(text)

    async def add(self, record: FeedbackRecord) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            self._schema(conn)
            sql = "INSERT OR IGNORE INTO feedback (suite, id, value) VALUES (?, ?, ?)"
            return conn.execute(sql, (record.suite, record.id, record.to_json())).rowcount == 1

        return await self._db.run(write)

    async def since(self, suite: str, cursor: str = START) -> FeedbackPage:
        def read(conn: sqlite3.Connection) -> FeedbackPage:
            self._schema(conn)
            sql = "SELECT seq, value FROM feedback WHERE suite = ? AND seq > ? ORDER BY seq"
            rows = conn.execute(sql, (suite, int(cursor))).fetchall()
            last = str(rows[-1][0]) if rows else cursor
            dropped = conn.execute("SELECT drops FROM feedback_drops WHERE suite = ?", (suite,))
            drops = dropped.fetchone()
            records = [FeedbackRecord.from_json(str(v)) for _, v in rows]
            return FeedbackPage(records, last, int(drops[0]) if drops else 0)

        return await self._db.run(read)

    async def drop(self, suite: str) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            self._schema(conn)
            conn.execute(
                "INSERT INTO feedback_drops VALUES (?, 1) "
                "ON CONFLICT (suite) DO UPDATE SET drops = drops + 1",
                (suite,),
            )
            return conn.execute("DELETE FROM feedback WHERE suite = ?", (suite,)).rowcount

        return await self._db.run(delete)
