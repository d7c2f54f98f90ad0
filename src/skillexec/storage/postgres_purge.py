"""Purge in the PostgreSQL journal (a part of :class:`PostgresStore`): a principal's
payloads erased, as in the SQLite journal (the same selection and what is left, ``rows``).

The rows keep their ids, skill, state, times, metrics and error codes; parameters, config,
output, error text (the summary's too) and history go, with the artifact records, the
events about the tasks and the cached results of their skills, in one transaction. Then the
tables are vacuumed.

What PostgreSQL can and cannot guarantee about the erased bytes:

- An UPDATE or DELETE leaves the old row version in the table's file until VACUUM removes
  it, and a plain VACUUM only marks its space free: the bytes stay in the page until a
  later row overwrites them (measured here: a deleted row's text is still in the heap file
  after VACUUM and CHECKPOINT). ``VACUUM FULL`` writes the table into a new file, so that
  the table's files hold no erased byte; it locks the table while it runs (every node's
  writes wait). It is what runs when the journal stores payloads in clear.
- With encryption, what can stay behind is ciphertext. Purging a principal (no
  ``before``) destroys its data key (``pipeline.purge``), which makes every old copy
  unreadable wherever it is: a free page, the write-ahead log, a replica, a backup. So a
  plain VACUUM (no lock) is enough there. A purge by age (``before``, retention) keeps the
  key: its old ciphertexts stay readable, to whoever has the master key and the keyring,
  until PostgreSQL overwrites them.
- No VACUUM reaches the write-ahead log (recycled segments are renamed, not zeroed), WAL
  archives, streaming replicas, ``pg_dump`` backups or the filesystem's freed blocks of
  the file VACUUM FULL replaced. Without encryption, these keep the plaintext for as long
  as they live; only the data key's destruction covers them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool

from skillexec.storage.codec import Codec
from skillexec.storage.rows import PURGED, pg, purge_where, purged_result
from skillexec.storage.store import PurgeReport

__all__ = ["PostgresPurgeMixin"]

log = logging.getLogger("skillexec.purge")

_Conn = psycopg.AsyncConnection[tuple[Any, ...]]
_TABLES = ("tasks", "artifacts", "events", "cache")
# Every statement written before the purge is committed before it: the writer commits in
# order, so once this no-op is committed, so is everything queued ahead of it.
_BARRIER = "SELECT 1"
_HORIZON_TRIES = 200  # 10 s: an analyze or a report's read, not a transaction left open
_HORIZON_PAUSE_S = 0.05
_SCRUB = pg("UPDATE tasks SET params=?, config=?, history=NULL, result=?, summary=?"
            " WHERE task_id=?")


class _Journal(Protocol):
    _pool: AsyncConnectionPool[_Conn] | None
    _codec: Codec

    def _put(self, sql: str, args: tuple[Any, ...]) -> asyncio.Future[None]: ...


class PostgresPurgeMixin:
    async def purge(self: _Journal, *, principal: str | None, everyone: bool = False,
                    before: float | None = None) -> PurgeReport:
        await self._put(_BARRIER, ())
        assert self._pool is not None, "the store is not open"
        async with self._pool.connection() as conn:
            async with conn.transaction():
                report = await _purge_rows(conn, principal=principal, everyone=everyone,
                                           before=before)
                cur = await conn.execute("SELECT pg_current_xact_id()::text::bigint")
                row = await cur.fetchone()
                xid = int(row[0]) if row else 0
            if report.tasks or report.artifacts:
                await _horizon_passed(conn, xid)
                # VACUUM runs outside a transaction: the pool's connections autocommit.
                full = "(FULL) " if not self._codec.enabled else ""
                await conn.execute(f"VACUUM {full}{', '.join(_TABLES)}")
        return report


async def _horizon_passed(conn: _Conn, xid: int) -> None:
    """Wait (a while) until no snapshot in this database predates the purge's commit: a
    row version a live snapshot may still see is "recently dead", and VACUUM, FULL too,
    keeps it (measured: an auto-analyze running then left erased text in the new file).
    Nor may any transaction older than the purge still run, in any database: a snapshot
    taken from now on (VACUUM FULL's own is one) would reach back to it."""
    for _ in range(_HORIZON_TRIES):
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL"
            " AND age(backend_xmin) >= age(%s::xid)"
            " OR pg_snapshot_xmin(pg_current_snapshot())::text::bigint <= %s",
            (str(xid % 2**32), xid))
        row = await cur.fetchone()
        if not row or not row[0]:
            return
        await asyncio.sleep(_HORIZON_PAUSE_S)
    log.warning("a transaction older than the purge is still open: VACUUM may keep the "
                "erased row versions until it ends")


async def _purge_rows(conn: _Conn, *, principal: str | None, everyone: bool,
                      before: float | None) -> PurgeReport:
    where, args = purge_where(principal=principal, everyone=everyone, before=before)
    cur = conn.cursor()
    # FOR UPDATE: a late terminal write from another node waits for the purge, then finds
    # the row finished (its guard) and writes nothing.
    await cur.execute(pg(f"SELECT task_id, skill_id, result, summary FROM tasks WHERE "
                         f"{' AND '.join(where)} FOR UPDATE"), args)
    rows = await cur.fetchall()
    if not rows:
        return PurgeReport(tasks=0, artifacts=0, events=0, skills=(), orphans=frozenset())
    ids = [r[0] for r in rows]
    skills = sorted({r[1] for r in rows})
    await cur.executemany(_SCRUB, [(PURGED, PURGED, *(purged_result(
        bytes(blob) if blob is not None else None) for blob in r[2:4]), r[0]) for r in rows])
    await cur.execute("DELETE FROM artifacts WHERE task_id = ANY(%s) RETURNING sha256", (ids,))
    digests = {r[0] for r in await cur.fetchall()}
    artifacts = cur.rowcount
    orphans: set[str] = set()
    if digests:
        await cur.execute("SELECT DISTINCT sha256 FROM artifacts WHERE sha256 = ANY(%s)",
                          (sorted(digests),))
        orphans = digests - {r[0] for r in await cur.fetchall()}
    # json, not jsonb: an event may hold a NUL character, which jsonb refuses
    await cur.execute("DELETE FROM events WHERE position('\"task_id\"'::bytea in data) > 0"
                      " AND convert_from(data, 'UTF8')::json->>'task_id' = ANY(%s)", (ids,))
    events = cur.rowcount
    # cached results are keyed by call, not by principal: the skills' whole caches go
    await cur.execute("DELETE FROM cache WHERE skill_id = ANY(%s)", (skills,))
    return PurgeReport(tasks=len(rows), artifacts=artifacts, events=events,
                       skills=tuple(skills), orphans=frozenset(orphans))
