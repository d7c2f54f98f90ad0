"""The journal's reads (and the artifact deletions that go with them), on its reader
connection in a thread: WAL lets them run beside the writer (a part of :class:`SQLiteStore`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from skillexec.storage.codec import Codec
from skillexec.storage.rows import (
    ARTIFACT_COLUMNS,
    HISTORY_COLUMNS,
    INFO_COLUMNS,
    artifact,
    created_between,
    info,
    newest_first,
    task_list,
)
from skillexec.storage.rows import history as history_of
from skillexec.storage.sqlite_request import STORED_COLUMNS, stored_task
from skillexec.storage.store import ArtifactRecord, StoredTask, poll_finished
from skillexec.storage.summary import SUMMARY_COLUMNS, TaskSummary, task_summary
from skillexec.task import TaskInfo, TaskStatus

__all__ = ["SQLiteQueriesMixin"]

class SQLiteQueriesMixin:
    """What SQLiteStore answers from the journal; it opens ``_read`` and holds the lock."""

    _read: sqlite3.Connection | None
    _read_lock: threading.Lock
    _codec: Codec

    async def _query(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        def run() -> Any:
            assert self._read is not None, "the store is not open"
            with self._read_lock:
                return fn(self._read)
        return await asyncio.to_thread(run)

    async def get(self, task_id: str) -> TaskInfo | None:
        row = await self._query(lambda c: c.execute(
            f"SELECT {INFO_COLUMNS} FROM tasks WHERE task_id=?", (task_id,)).fetchone())
        return info(row, self._codec) if row else None

    async def history(self, task_id: str) -> list[dict[str, Any]]:
        return history_of(await self._query(lambda c: c.execute(
            f"SELECT {HISTORY_COLUMNS} FROM tasks WHERE task_id=?", (task_id,)).fetchone()),
            self._codec, task_id=task_id)

    async def list_tasks(self, *, status: TaskStatus | None = None, skill_id: str | None = None,
                         limit: int = 50, since: float | None = None,
                         until: float | None = None,
                         principal: str | None = None) -> list[TaskInfo]:
        sql, args = task_list(status=status, skill_id=skill_id, since=since, until=until,
                              principal=principal, limit=limit)
        rows = await self._query(lambda c: c.execute(sql, args).fetchall())
        return [info(r, self._codec) for r in rows]

    async def list_summaries(self, *, status: TaskStatus | None = None,
                             skill_id: str | None = None, limit: int = 50,
                             since: float | None = None, until: float | None = None,
                             principal: str | None = None) -> list[TaskSummary]:
        sql, args = task_list(status=status, skill_id=skill_id, since=since, until=until,
                              principal=principal, limit=limit, columns=SUMMARY_COLUMNS)
        rows = await self._query(lambda c: c.execute(sql, args).fetchall())
        return [task_summary(r, self._codec) for r in rows]

    async def unfinished(self) -> list[StoredTask]:
        rows = await self._query(lambda c: c.execute(
            f"SELECT {STORED_COLUMNS} FROM tasks WHERE finished_at IS NULL ORDER BY task_id"
        ).fetchall())
        return [stored_task(r, self._codec) for r in rows]

    async def requests(self, *, since: float | None = None, until: float | None = None,
                       limit: int = 100_000) -> list[StoredTask]:
        where, args = created_between(since, until)
        sql = newest_first(STORED_COLUMNS, where, args, limit)
        rows = await self._query(lambda c: c.execute(sql, args).fetchall())
        return [stored_task(r, self._codec) for r in rows]

    async def get_request(self, task_id: str) -> StoredTask | None:
        row = await self._query(lambda c: c.execute(
            f"SELECT {STORED_COLUMNS} FROM tasks WHERE task_id=?", (task_id,)).fetchone())
        return stored_task(row, self._codec) if row else None

    async def wait_finished(self, task_id: str, *, timeout_s: float | None) -> TaskInfo | None:
        return await poll_finished(self.get, task_id, timeout_s=timeout_s)

    async def request_cancel(self, task_id: str) -> bool:
        def run(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "UPDATE tasks SET cancel_requested=1 WHERE task_id=? AND finished_at IS NULL",
                (task_id,))
            return cur.rowcount > 0
        return bool(await self._query(run))

    async def cancel_requests(self) -> list[str]:
        rows = await self._query(lambda c: c.execute(
            "SELECT task_id FROM tasks WHERE finished_at IS NULL AND cancel_requested=1"
        ).fetchall())
        return [r[0] for r in rows]

    async def get_artifact(self, artifact_id: str) -> ArtifactRecord | None:
        row = await self._query(lambda c: c.execute(
            f"SELECT {ARTIFACT_COLUMNS} FROM artifacts"
            " WHERE id=?", (artifact_id,)).fetchone())
        return artifact(row) if row else None

    async def artifacts_older_than(self, cutoff: float) -> list[ArtifactRecord]:
        rows = await self._query(lambda c: c.execute(
            f"SELECT {ARTIFACT_COLUMNS} FROM artifacts"
            " WHERE created_at < ?", (cutoff,)).fetchall())
        return [artifact(r) for r in rows]

    async def list_artifacts(self, *, task_id: str | None = None,
                             limit: int = 100) -> list[ArtifactRecord]:
        where, args = ("WHERE task_id=? ", (task_id,)) if task_id is not None else ("", ())
        rows = await self._query(lambda c: c.execute(
            f"SELECT {ARTIFACT_COLUMNS} FROM artifacts {where}"
            "ORDER BY created_at DESC LIMIT ?", (*args, int(limit))).fetchall())
        return [artifact(r) for r in rows]

    async def delete_artifacts(self, artifact_ids: list[str]) -> set[str]:
        def run(c: sqlite3.Connection) -> set[str]:
            orphaned: set[str] = set()
            c.execute("BEGIN IMMEDIATE")
            try:
                for aid in artifact_ids:
                    row = c.execute("SELECT sha256 FROM artifacts WHERE id=?", (aid,)).fetchone()
                    if row is None:
                        continue
                    c.execute("DELETE FROM artifacts WHERE id=?", (aid,))
                    left = c.execute("SELECT 1 FROM artifacts WHERE sha256=? LIMIT 1",
                                     (row[0],)).fetchone()
                    if left is None:
                        orphaned.add(row[0])
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return orphaned
        result: set[str] = await self._query(run)
        return result
