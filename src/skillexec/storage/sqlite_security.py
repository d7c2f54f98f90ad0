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

import orjson

from skillexec.security.audit_chain import AuditEntry, AuditRow, chain
from skillexec.security.keys import KeyInfo, KeyRecord
from skillexec.security.principals import Role

__all__ = ["AUDIT_MARK", "SECURITY_SCHEMA", "SQLiteSecurityMixin", "place_audit"]

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

AUDIT_MARK = "-- audit entry"  # a pending record that the writer turns into an audit row
_AUDIT_INSERT = "INSERT INTO audit(seq, ts_us, body, digest) VALUES (?,?,?,?)"
_AUDIT_HEAD = "SELECT seq, digest FROM audit ORDER BY seq DESC LIMIT 1"
_KEY_PUT = (
    "INSERT INTO api_keys(key_id, name, role, skills, permissions, digest, created_at,"
    " expires_at, revoked_at, used_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
)
_KEY_COLUMNS = ("key_id, name, role, skills, permissions, digest, created_at, expires_at,"
                " revoked_at, used_at")
_Record = tuple[str, tuple[Any, ...], "asyncio.Future[None] | None"]


class _Journal(Protocol):
    def _put(self, sql: str, args: tuple[Any, ...]) -> asyncio.Future[None]: ...

    def _put_audit(self, entry: tuple[Any, ...]) -> asyncio.Future[None]: ...

    async def _query(self, fn: Callable[[sqlite3.Connection], Any]) -> Any: ...


def place_audit(conn: sqlite3.Connection, batch: list[_Record]) -> list[_Record]:
    """The batch with its audit entries placed in the chain, after the other records (in a
    transaction that holds the write lock: the head read here stays the head)."""
    entries = [r for r in batch if r[0] is AUDIT_MARK]
    if not entries:
        return batch
    head = conn.execute(_AUDIT_HEAD).fetchone()
    rows = chain((head[0], bytes(head[1])) if head else None,
                 [AuditEntry(*r[1]) for r in entries])
    return [r for r in batch if r[0] is not AUDIT_MARK] + [
        (_AUDIT_INSERT, tuple(row), r[2]) for row, r in zip(rows, entries, strict=True)]


def _json(values: frozenset[str] | None) -> bytes | None:
    return None if values is None else orjson.dumps(sorted(values))


def _key(row: tuple[Any, ...]) -> KeyRecord:
    def names(blob: Any) -> frozenset[str] | None:
        return None if blob is None else frozenset(orjson.loads(blob))
    return KeyRecord(KeyInfo(row[0], row[1], Role(row[2]), names(row[3]), names(row[4]),
                             row[6], row[7], row[8], row[9]), bytes(row[5]))


class SQLiteSecurityMixin:
    # -- API keys ----------------------------------------------------------------------------

    def key_put(self: _Journal, record: KeyRecord) -> Awaitable[None]:
        i = record.info
        return self._put(_KEY_PUT, (i.key_id, i.name, i.role.value, _json(i.skills),
                                    _json(i.permissions), record.digest, i.created_at,
                                    i.expires_at, i.revoked_at, i.used_at))

    async def key_get(self: _Journal, key_id: str) -> KeyRecord | None:
        row = await self._query(lambda c: c.execute(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id=?", (key_id,)).fetchone())
        return None if row is None else _key(row)

    async def key_list(self: _Journal) -> list[KeyRecord]:
        rows = await self._query(lambda c: c.execute(
            f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at").fetchall())
        return [_key(r) for r in rows]

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
        row = await self._query(lambda c: c.execute(_AUDIT_HEAD).fetchone())
        return None if row is None else (row[0], bytes(row[1]))

    async def audit_rows(self: _Journal, *, after_seq: int = -1, since_us: int | None = None,
                         limit: int = 10_000) -> list[AuditRow]:
        """Records in seq order after ``after_seq`` (and at or after ``since_us``)."""
        sql, args = "SELECT seq, ts_us, body, digest FROM audit WHERE seq > ?", [after_seq]
        if since_us is not None:
            sql += " AND ts_us >= ?"
            args.append(since_us)
        sql += " ORDER BY seq LIMIT ?"
        args.append(int(limit))
        rows = await self._query(lambda c: c.execute(sql, args).fetchall())
        return [AuditRow(r[0], r[1], bytes(r[2]), bytes(r[3])) for r in rows]
