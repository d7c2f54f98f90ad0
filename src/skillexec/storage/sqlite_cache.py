"""The result cache's table in the journal's SQLite file (a part of :class:`SQLiteStore`).

Entries are written with the journal's group commit and read on its reader connection; at
first use the cache drops expired entries and learns which keys the table holds.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from skillexec.storage.codec import Codec
from skillexec.storage.rows import CACHE_COLUMNS, cache_record, cache_value
from skillexec.storage.store import CacheRecord

__all__ = ["SQLiteCacheMixin"]

_CACHE_PUT = (
    "INSERT OR REPLACE INTO cache(key, skill_id, version, value, expires_at, created_at)"
    " VALUES (?,?,?,?,?,?)"
)
_CACHE_DROP = "DELETE FROM cache WHERE skill_id=? AND version != ?"


class _Journal(Protocol):
    """What the mixin needs of the SQLiteStore it is mixed into."""

    _codec: Codec

    def _put(self, sql: str, args: tuple[Any, ...]) -> asyncio.Future[None]: ...

    async def _query(self, fn: Callable[[sqlite3.Connection], Any]) -> Any: ...


class SQLiteCacheMixin:
    async def cache_get(self: _Journal, key: str) -> CacheRecord | None:
        row = await self._query(lambda c: c.execute(
            f"SELECT {CACHE_COLUMNS} FROM cache WHERE key=?", (key,)
        ).fetchone())
        return cache_record(row, self._codec) if row else None

    def cache_put(self: _Journal, record: CacheRecord) -> Awaitable[None]:
        return self._put(_CACHE_PUT, (record.key, record.skill_id, record.version,
                                      cache_value(record, self._codec), record.expires_at,
                                      time.time()))

    def cache_invalidate(self: _Journal, skill_id: str,
                         keep_version: str | None) -> Awaitable[None]:
        if keep_version is None:
            return self._put("DELETE FROM cache WHERE skill_id=?", (skill_id,))
        return self._put(_CACHE_DROP, (skill_id, keep_version))

    async def cache_load(self: _Journal, *, now: float,
                         limit: int) -> tuple[list[str], list[CacheRecord]]:
        def run(c: sqlite3.Connection) -> tuple[list[str], list[CacheRecord]]:
            c.execute("DELETE FROM cache WHERE expires_at IS NOT NULL AND expires_at <= ?",
                      (now,))
            keys = [r[0] for r in c.execute("SELECT key FROM cache")]
            rows = c.execute(f"SELECT {CACHE_COLUMNS} FROM cache"
                             " ORDER BY created_at DESC LIMIT ?", (int(limit),)).fetchall()
            return keys, [cache_record(r, self._codec) for r in rows]
        result: tuple[list[str], list[CacheRecord]] = await self._query(run)
        return result

