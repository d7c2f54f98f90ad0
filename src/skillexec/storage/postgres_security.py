"""The security tables of the PostgreSQL journal: API keys and the audit log (a part of
:class:`PostgresStore`), with the SQLite journal's statements and row mappers (``rows``).

Audit records join the journal's group commit, as in SQLite: ``audit_append`` queues an
entry, and the writer places the batch's entries in the chain inside the transaction that
writes them. Every node sharing the database takes the same transaction-scoped advisory lock
(``AUDIT_LOCK_KEY``) before it reads the chain's head, and holds it until its commit; the
head is read by a statement of its own after the lock is held (under READ COMMITTED each
statement sees what was committed when it began), so two engines never fork the chain. A
batch with one entry (a task's end and its record, mostly) is not read first: its insert
reads the head itself and builds the record around it (``audit_chain.unplaced``), so the
commit stays one round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Protocol

import psycopg

from skillexec.security.audit_chain import GENESIS, AuditEntry, AuditRow, unplaced
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
    pg,
)

__all__ = ["AUDIT_LOCK_KEY", "PostgresSecurityMixin", "lone_audit", "place_audit"]

# pg_advisory_xact_lock's key for the chain: "skillaud" on 8 bytes, fixed so that every node
# takes the same (and apart from the migrations' key).
AUDIT_LOCK_KEY = int.from_bytes(b"skillaud", "big") & 0x7FFF_FFFF_FFFF_FFFF
_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_HEAD = pg(AUDIT_HEAD)
_INSERT = pg(AUDIT_INSERT)
_KEY_PUT = pg(KEY_PUT)
_Conn = psycopg.AsyncConnection[tuple[Any, ...]]


class _Journal(Protocol):
    def _put(self, sql: str, args: tuple[Any, ...]) -> asyncio.Future[None]: ...

    async def _rows(self, sql: str, args: tuple[Any, ...] | list[Any] = (), *,
                    binary: bool = False) -> list[Any]: ...

    async def _row(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> Any: ...


# One entry placed by the database after the head it reads (``unplaced``): the statement
# runs after the lock's, so it sees the head every writer leaves under that lock.
_INSERT_AFTER_HEAD = """
INSERT INTO audit(seq, ts_us, body, digest)
SELECT h.seq + 1, %s, b.body, sha256(b.body)
FROM (SELECT seq, digest FROM audit UNION ALL SELECT -1, %s::bytea
      ORDER BY seq DESC LIMIT 1) h
CROSS JOIN LATERAL (SELECT %s::bytea || convert_to(encode(h.digest, 'hex'), 'UTF8')
                           || %s::bytea || convert_to((h.seq + 1)::text, 'UTF8')
                           || %s::bytea AS body) b
"""


async def place_audit(conn: _Conn, batch: list[Record], *,
                      in_one_trip: bool = False) -> list[Record]:
    """The batch with its audit entries placed in the chain, after the other records; in a
    transaction of ``conn``, which holds the chain's lock from here to its end.
    ``in_one_trip`` (a pipeline's caller): a lone entry (a task's end, mostly) is placed by
    the database, so that the head is not read first (a round trip before the commit)."""
    entries = [r for r in batch if r[0] is AUDIT_MARK]
    if not entries:
        return batch
    await conn.execute(_LOCK, (AUDIT_LOCK_KEY,))
    if in_one_trip and len(entries) == 1:
        return [r for r in batch if r[0] is not AUDIT_MARK] + lone_audit(batch)[1:]
    head = await (await conn.execute(_HEAD)).fetchone()
    return audit_placed(head, batch, insert=_INSERT)


def lone_audit(batch: list[Record]) -> list[Record]:
    """The statements that place the batch's one audit entry, the database reading the
    chain's head itself: the chain's lock, then the entry's insert (with the entry's
    waiter); none without an entry. For a caller that sends them without waiting."""
    entries = [r for r in batch if r[0] is AUDIT_MARK]
    if not entries:
        return []
    assert len(entries) == 1, "one entry: the head is read by the insert itself"
    _, entry, fut = entries[0]
    e = entry if entry.__class__ is AuditEntry else AuditEntry(*entry)
    return [(_LOCK, (AUDIT_LOCK_KEY,), None),
            (_INSERT_AFTER_HEAD, (e.ts_us, GENESIS, *unplaced(e)), fut)]


class PostgresSecurityMixin:
    # -- API keys ----------------------------------------------------------------------------

    def key_put(self: _Journal, record: KeyRecord) -> Awaitable[None]:
        return self._put(_KEY_PUT, key_values(record))

    async def key_get(self: _Journal, key_id: str) -> KeyRecord | None:
        row = await self._row(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id=?", (key_id,))
        return None if row is None else key(row)

    async def key_list(self: _Journal) -> list[KeyRecord]:
        return [key(r) for r in await self._rows(
            f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at")]

    async def key_revoke(self: _Journal, key_id: str, at: float) -> bool:
        return bool(await self._rows(
            "UPDATE api_keys SET revoked_at=? WHERE key_id=? AND revoked_at IS NULL"
            " RETURNING key_id", (at, key_id)))

    async def key_used(self: _Journal, key_id: str, at: float) -> bool:
        return bool(await self._rows(
            "UPDATE api_keys SET used_at=? WHERE key_id=? AND used_at IS NULL"
            " RETURNING key_id", (at, key_id)))

    # -- the audit log -----------------------------------------------------------------------

    def audit_append(self: _Journal, entry: AuditEntry) -> Awaitable[None]:
        return self._put(AUDIT_MARK, entry)

    async def audit_head(self: _Journal) -> tuple[int, bytes] | None:
        row = await self._row(AUDIT_HEAD)
        return None if row is None else (row[0], bytes(row[1]))

    async def audit_rows(self: _Journal, *, after_seq: int = -1, since_us: int | None = None,
                         limit: int = 10_000) -> list[AuditRow]:
        """Stored rows (one or more records each) in seq order after ``after_seq``."""
        sql, args = audit_since(after_seq, since_us, limit)
        return [audit_row(r) for r in await self._rows(sql, args, binary=True)]
