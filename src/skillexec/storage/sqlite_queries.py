"""The journal's reads (and the artifact deletions that go with them), on its reader
connection in a thread: WAL lets them run beside the writer (a part of :class:`SQLiteStore`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import orjson

from skillexec.security.principals import LOCAL_ID
from skillexec.storage.sqlite_request import STORED_COLUMNS, stored_task
from skillexec.storage.store import ArtifactRecord, StoredTask
from skillexec.task import ArtifactRef, ExecutionResult, TaskInfo, TaskStatus

__all__ = ["SQLiteQueriesMixin"]

_INFO_COLUMNS = (
    "task_id, skill_id, skill_version, status, priority, attempts, created_at, started_at,"
    " finished_at, result, principal"
)



class SQLiteQueriesMixin:
    """What SQLiteStore answers from the journal; it opens ``_read`` and holds the lock."""

    _read: sqlite3.Connection | None
    _read_lock: threading.Lock

    async def _query(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        def run() -> Any:
            assert self._read is not None, "the store is not open"
            with self._read_lock:
                return fn(self._read)
        return await asyncio.to_thread(run)

    async def get(self, task_id: str) -> TaskInfo | None:
        row = await self._query(lambda c: c.execute(
            f"SELECT {_INFO_COLUMNS} FROM tasks WHERE task_id=?", (task_id,)).fetchone())
        return _info(row) if row else None

    async def history(self, task_id: str) -> list[dict[str, Any]]:
        row = await self._query(lambda c: c.execute(
            "SELECT history, result, attempts FROM tasks WHERE task_id=?", (task_id,)
        ).fetchone())
        if not row:
            return []
        if row[0]:
            return list(orjson.loads(row[0]))
        if row[1]:  # one clean attempt: its record is the result's
            result = orjson.loads(row[1])
            return [{"attempt": 1, "metrics": result.get("metrics") or {}, "error": None,
                     "decision": "done"}]
        return []

    async def list_tasks(self, *, status: TaskStatus | None = None, skill_id: str | None = None,
                         limit: int = 50, since: float | None = None,
                         until: float | None = None,
                         principal: str | None = None) -> list[TaskInfo]:
        where, args = _created_between(since, until)
        if principal is not None:  # local's tasks are kept with NULL
            where.append("principal IS NULL" if principal == LOCAL_ID else "principal=?")
            if principal != LOCAL_ID:
                args.append(principal)
        if status is not None:
            where.append("status=?")
            args.append(status.value)
        if skill_id is not None:
            where.append("skill_id=?")
            args.append(skill_id)
        sql = _newest_first(_INFO_COLUMNS, where, args, limit)
        rows = await self._query(lambda c: c.execute(sql, args).fetchall())
        return [_info(r) for r in rows]

    async def unfinished(self) -> list[StoredTask]:
        rows = await self._query(lambda c: c.execute(
            f"SELECT {STORED_COLUMNS} FROM tasks WHERE finished_at IS NULL ORDER BY task_id"
        ).fetchall())
        return [stored_task(r) for r in rows]

    async def requests(self, *, since: float | None = None, until: float | None = None,
                       limit: int = 100_000) -> list[StoredTask]:
        where, args = _created_between(since, until)
        sql = _newest_first(STORED_COLUMNS, where, args, limit)
        rows = await self._query(lambda c: c.execute(sql, args).fetchall())
        return [stored_task(r) for r in rows]

    async def get_request(self, task_id: str) -> StoredTask | None:
        row = await self._query(lambda c: c.execute(
            f"SELECT {STORED_COLUMNS} FROM tasks WHERE task_id=?", (task_id,)).fetchone())
        return stored_task(row) if row else None

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
            "SELECT id, name, mime, size, sha256, task_id, created_at FROM artifacts"
            " WHERE id=?", (artifact_id,)).fetchone())
        return _artifact(row) if row else None

    async def artifacts_older_than(self, cutoff: float) -> list[ArtifactRecord]:
        rows = await self._query(lambda c: c.execute(
            "SELECT id, name, mime, size, sha256, task_id, created_at FROM artifacts"
            " WHERE created_at < ?", (cutoff,)).fetchall())
        return [_artifact(r) for r in rows]

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


def _newest_first(columns: str, where: list[str], args: list[Any], limit: int) -> str:
    """SELECT ``columns`` of the tasks matching ``where``, newest first, at most ``limit``
    (its value appended to ``args``)."""
    args.append(int(limit))
    clause = " WHERE " + " AND ".join(where) if where else ""
    return f"SELECT {columns} FROM tasks{clause} ORDER BY task_id DESC LIMIT ?"


def _created_between(since: float | None,
                     until: float | None) -> tuple[list[str], list[Any]]:
    """WHERE terms for tasks created in [since, until): ids start with the creation time in
    microseconds, so this is a range of the primary key."""
    where: list[str] = []
    args: list[Any] = []
    if since is not None:
        where.append("task_id >= ?")
        args.append(f"{int(since * 1e6):014x}")
    if until is not None:
        where.append("task_id < ?")
        args.append(f"{int(until * 1e6):014x}")
    return where, args

def _info(row: tuple[Any, ...]) -> TaskInfo:
    result = ExecutionResult.from_dict(orjson.loads(row[9])) if row[9] else None
    return TaskInfo(task_id=row[0], skill_id=row[1], skill_version=row[2],
                    status=TaskStatus(row[3]), priority=row[4], attempts=row[5],
                    created_at=row[6], started_at=row[7], finished_at=row[8], result=result,
                    principal=row[10])


def _artifact(row: tuple[Any, ...]) -> ArtifactRecord:
    return ArtifactRecord(ref=ArtifactRef(id=row[0], name=row[1], mime=row[2], size=row[3],
                                          sha256=row[4]),
                          task_id=row[5], created_at=row[6])

