"""Purge in the SQLite journal (a part of :class:`SQLiteStore`): a principal's payloads
erased so that no copy stays in the files.

The rows keep their ids, skill, state, times, metrics and error codes (reports and
statistics read those); parameters, config, output, error text (the summary's too) and
history go. With ``secure_delete`` the freed bytes are zeroed as SQLite frees them, then
``VACUUM`` rewrites the database without free pages and a TRUNCATE checkpoint empties the
write-ahead log, which still held the old pages.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any, Protocol

from skillexec.storage.rows import PURGED, purge_where, purged_result
from skillexec.storage.store import PurgeReport

__all__ = ["SQLiteVacuumMixin", "purge_rows"]

_CHUNK = 500


class _Journal(Protocol):
    async def _query(self, fn: Callable[[sqlite3.Connection], Any]) -> Any: ...

    def _flush(self) -> None: ...


class SQLiteVacuumMixin:
    async def purge(self: _Journal, *, principal: str | None, everyone: bool = False,
                    before: float | None = None) -> PurgeReport:
        self._flush()  # what was written before the purge is purged with it
        report: PurgeReport = await self._query(
            lambda c: purge_rows(c, principal=principal, everyone=everyone, before=before))
        if report.tasks or report.artifacts:
            await self._query(_compact)
        return report


def purge_rows(c: sqlite3.Connection, *, principal: str | None, everyone: bool,
               before: float | None) -> PurgeReport:
    where, args = purge_where(principal=principal, everyone=everyone, before=before)
    c.execute("PRAGMA secure_delete=ON")
    c.execute("BEGIN IMMEDIATE")
    try:
        rows = c.execute(f"SELECT task_id, skill_id, result, summary FROM tasks WHERE "
                         f"{' AND '.join(where)}", args).fetchall()
        skills = sorted({r[1] for r in rows})
        artifacts = events = 0
        orphans: set[str] = set()
        for i in range(0, len(rows), _CHUNK):
            part = rows[i:i + _CHUNK]
            ids = [r[0] for r in part]
            marks = ",".join("?" * len(ids))
            c.executemany("UPDATE tasks SET params=?, config=?, history=NULL, result=?, "
                          "summary=? WHERE task_id=?",
                          [(PURGED, PURGED, purged_result(r[2]), purged_result(r[3]), r[0])
                           for r in part])
            digests = c.execute(f"SELECT DISTINCT sha256 FROM artifacts WHERE task_id IN "
                                f"({marks})", ids).fetchall()
            artifacts += c.execute(f"DELETE FROM artifacts WHERE task_id IN ({marks})",
                                   ids).rowcount
            for (digest,) in digests:
                if c.execute("SELECT 1 FROM artifacts WHERE sha256=? LIMIT 1",
                             (digest,)).fetchone() is None:
                    orphans.add(digest)
            events += c.execute(f"DELETE FROM events WHERE json_extract(data, '$.task_id') "
                                f"IN ({marks})", ids).rowcount
        for skill_id in skills:  # cached results are keyed by call, not by principal
            c.execute("DELETE FROM cache WHERE skill_id=?", (skill_id,))
        c.execute("COMMIT")
    except BaseException:
        c.execute("ROLLBACK")
        raise
    finally:
        c.execute("PRAGMA secure_delete=OFF")
    return PurgeReport(tasks=len(rows), artifacts=artifacts, events=events,
                       skills=tuple(skills), orphans=frozenset(orphans))


def _compact(c: sqlite3.Connection) -> None:
    """No free page, and no frame in the write-ahead log, keeps an erased byte."""
    c.execute("VACUUM")
    for _ in range(100):  # a reader between two steps makes the checkpoint wait: retry
        busy = c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if not busy:
            return
        time.sleep(0.02)
    raise sqlite3.OperationalError("the journal's write-ahead log could not be emptied "
                                   "after the purge (an engine keeps reading it)")

