"""What the SQL journals (SQLite, PostgreSQL) share: the columns they select, how a row
becomes a :class:`TaskInfo` or an :class:`ArtifactRecord`, and the newest-first SELECT.

The statements are written with ``?`` placeholders; the PostgreSQL store turns them into
psycopg's ``%s`` once, at import (:func:`pg`).
"""

from __future__ import annotations

from typing import Any

import orjson

from skillexec.storage.store import ArtifactRecord
from skillexec.task import ArtifactRef, ExecutionResult, TaskInfo, TaskStatus

__all__ = ["ARTIFACT_COLUMNS", "INFO_COLUMNS", "artifact", "created_between", "info",
           "newest_first", "pg"]

INFO_COLUMNS = (
    "task_id, skill_id, skill_version, status, priority, attempts, created_at, started_at,"
    " finished_at, result"
)
ARTIFACT_COLUMNS = "id, name, mime, size, sha256, task_id, created_at"


def pg(sql: str) -> str:
    """A statement written for SQLite's ``?`` placeholders, in psycopg's ``%s`` style (none
    of the journal's statements holds a literal ``?`` or ``%``)."""
    assert "%" not in sql, sql
    return sql.replace("?", "%s")


def newest_first(columns: str, where: list[str], args: list[Any], limit: int) -> str:
    """SELECT ``columns`` of the tasks matching ``where``, newest first, at most ``limit``
    (its value appended to ``args``)."""
    args.append(int(limit))
    clause = " WHERE " + " AND ".join(where) if where else ""
    return f"SELECT {columns} FROM tasks{clause} ORDER BY task_id DESC LIMIT ?"


def created_between(since: float | None, until: float | None) -> tuple[list[str], list[Any]]:
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


def info(row: tuple[Any, ...]) -> TaskInfo:
    """A row selected as ``INFO_COLUMNS``."""
    result = ExecutionResult.from_dict(orjson.loads(row[9])) if row[9] else None
    return TaskInfo(task_id=row[0], skill_id=row[1], skill_version=row[2],
                    status=TaskStatus(row[3]), priority=row[4], attempts=row[5],
                    created_at=row[6], started_at=row[7], finished_at=row[8], result=result)


def artifact(row: tuple[Any, ...]) -> ArtifactRecord:
    """A row selected as ``ARTIFACT_COLUMNS``."""
    return ArtifactRecord(ref=ArtifactRef(id=row[0], name=row[1], mime=row[2], size=row[3],
                                          sha256=row[4]),
                          task_id=row[5], created_at=row[6])


def history(row: tuple[Any, ...] | None) -> list[dict[str, Any]]:
    """The attempts of a row selected as ``history, result``."""
    if not row:
        return []
    if row[0]:
        return list(orjson.loads(row[0]))
    if row[1]:  # one clean attempt: its record is the result's
        result = orjson.loads(row[1])
        return [{"attempt": 1, "metrics": result.get("metrics") or {}, "error": None,
                 "decision": "done"}]
    return []
