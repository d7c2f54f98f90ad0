"""The security tables of the SQLite journal: API keys and the audit log (a part of
:class:`SQLiteStore`). The SQL is kept here, apart, so that other stores port it easily.

Audit records join the journal's group commit: ``audit_append`` queues an entry, and the
writer places the whole batch's entries in the chain inside the same transaction as the
task rows (one read of the chain's head, one ``executemany``), under ``BEGIN IMMEDIATE`` so
that two processes writing one journal never fork the chain.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from skillexec.security.audit_chain import AuditEntry, AuditRow
from skillexec.security.keys import KeyRecord
from skillexec.storage.rows import (
    AUDIT_HEAD,
    AUDIT_INSERT,
    AUDIT_MARK,
    KEY_COLUMNS,
    KEY_PUT,
    Record,
    audit_placed,
    audit_row,
    audit_since,
    key,
    key_values,
)

__all__ = ["AUDIT_MARK", "SECURITY_SCHEMA", "SQLiteSecurityMixin", "commit_audited",
           "place_audit"]

SECURITY_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    skills BLOB,
    permissions BLOB,
    digest BLOB NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL,
    used_at REAL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts_us INTEGER NOT NULL,
    body BLOB NOT NULL,
    digest BLOB NOT NULL
);
-- No index on ts_us: one more B-tree write per record on the hot path, for `audit show
-- --since`, an operator's command that may scan.
"""



class _Journal(Protocol):
    def _put(self, sql: str, args: tuple[Any, ...]) -> asyncio.Future[None]: ...

    def _put_audit(self, entry: tuple[Any, ...]) -> asyncio.Future[None]: ...

    async def _query(self, fn: Callable[[sqlite3.Connection], Any]) -> Any: ...


# The first audit row of a commit placed after a head known without reading it: its time is
# NULL, which the column refuses (IntegrityError), unless the table's last seq is still that
# head's (max over the primary key: one seek, in the INSERT itself).
_GUARDED_INSERT = ("INSERT INTO audit(seq, ts_us, body, digest) VALUES"
                   " (?, CASE WHEN (SELECT max(seq) FROM audit) IS ? THEN ? END, ?, ?)")


def place_audit(conn: sqlite3.Connection, batch: list[Record],
                head: tuple[int, bytes] | None = None) -> list[Record]:
    """The batch with its audit entries placed in the chain after ``head``, after the other
    records (in a transaction that holds the write lock). ``head`` None: it is read here;
    given, the first audit row's INSERT fails unless it is still the table's head. Called
    for a batch that holds some (the writer counts them as they are queued)."""
    if head is None:
        return audit_placed(conn.execute(AUDIT_HEAD).fetchone(), batch)
    placed = audit_placed(head, batch)
    i = len(placed) - 1
    while i > 0 and placed[i - 1][0] is AUDIT_INSERT:
        i -= 1
    seq, ts_us, body, digest = placed[i][1]
    placed[i] = (_GUARDED_INSERT, (seq, head[0], ts_us, body, digest), placed[i][2])
    return placed


def commit_audited(conn: sqlite3.Connection, batch: list[Record],
                   head: tuple[int, bytes] | None,
                   write: Callable[[sqlite3.Connection, list[Record]], None],
                   ) -> tuple[list[Record], tuple[int, bytes]]:
    """Write a batch that holds audit entries in one transaction: the batch as written
    and the chain's new head.

    ``head``: the head this journal's writer committed last (None: not known), taken as
    the head without a SELECT per group commit. Should another writer have appended
    since, the guarded INSERT of this batch's first audit row fails, and the batch is
    placed again after the head read from the table (two writers never fork the chain)."""
    while True:
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: the head stays the head
        placed = place_audit(conn, batch, head)
        try:
            write(conn, placed)
            conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            if head is None:
                raise
            conn.execute("ROLLBACK")
            head = None
            continue
        last = placed[-1][1]  # the audit rows are placed last: (seq, ..., digest)
        return placed, (last[0], last[-1])


class SQLiteSecurityMixin:
    # -- API keys ----------------------------------------------------------------------------

    def key_put(self: _Journal, record: KeyRecord) -> Awaitable[None]:
        return self._put(KEY_PUT, key_values(record))

    async def key_get(self: _Journal, key_id: str) -> KeyRecord | None:
        row = await self._query(lambda c: c.execute(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id=?", (key_id,)).fetchone())
        return None if row is None else key(row)

    async def key_list(self: _Journal) -> list[KeyRecord]:
        rows = await self._query(lambda c: c.execute(
            f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at").fetchall())
        return [key(r) for r in rows]

    async def key_revoke(self: _Journal, key_id: str, at: float) -> bool:
        def run(c: sqlite3.Connection) -> bool:
            return c.execute("UPDATE api_keys SET revoked_at=? WHERE key_id=? AND revoked_at"
                             " IS NULL", (at, key_id)).rowcount > 0
        done: bool = await self._query(run)
        return done

    async def key_used(self: _Journal, key_id: str, at: float) -> bool:
        def run(c: sqlite3.Connection) -> bool:
            return c.execute("UPDATE api_keys SET used_at=? WHERE key_id=? AND used_at IS NULL",
                             (at, key_id)).rowcount > 0
        done: bool = await self._query(run)
        return done

    # -- the audit log -----------------------------------------------------------------------

    def audit_append(self: _Journal, entry: AuditEntry) -> Awaitable[None]:
        return self._put_audit(entry)

    async def audit_head(self: _Journal) -> tuple[int, bytes] | None:
        row = await self._query(lambda c: c.execute(AUDIT_HEAD).fetchone())
        return None if row is None else (row[0], bytes(row[1]))

    async def audit_rows(self: _Journal, *, after_seq: int = -1, since_us: int | None = None,
                         limit: int = 10_000) -> list[AuditRow]:
        """Stored rows (one or more records each) in seq order after ``after_seq``."""
        sql, args = audit_since(after_seq, since_us, limit)
        rows = await self._query(lambda c: c.execute(sql, args).fetchall())
        return [audit_row(r) for r in rows]
