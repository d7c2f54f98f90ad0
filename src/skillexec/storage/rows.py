"""What the SQL journals (SQLite, PostgreSQL) share: the columns they select, how a row
becomes a :class:`TaskInfo`, an :class:`ArtifactRecord` or a :class:`KeyRecord`, the
newest-first SELECT, the audit log's statements, how a payload is sealed on its way in
and opened on its way out (one codec, the same fields in both journals), and what a
purge selects and leaves.

The statements are written with ``?`` placeholders; the PostgreSQL store turns them into
psycopg's ``%s`` once, at import (:func:`pg`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from skillexec.security.audit_chain import AuditRow, chain_grouped
from skillexec.security.keys import KeyInfo, KeyRecord
from skillexec.security.principals import LOCAL_ID, Role
from skillexec.storage.codec import PLAIN, Codec
from skillexec.storage.store import ArtifactRecord, CacheRecord
from skillexec.storage.summary import summary_json
from skillexec.task import ArtifactRef, ExecutionResult, ExecutionTask, TaskInfo, TaskStatus

__all__ = ["ARTIFACT_COLUMNS", "AUDIT_HEAD", "AUDIT_INSERT", "AUDIT_MARK", "CACHE_COLUMNS",
           "HISTORY_COLUMNS", "INFO_COLUMNS", "KEY_COLUMNS", "KEY_PUT", "PURGED", "Record",
           "artifact", "audit_placed", "audit_row", "audit_since", "cache_record",
           "cache_value", "created_between", "event", "event_data", "finished_values",
           "info", "key", "key_values", "newest_first", "owned_by", "pg", "purge_where",
           "purged_result", "task_list"]

INFO_COLUMNS = (
    "task_id, skill_id, skill_version, status, priority, attempts, created_at, started_at,"
    " finished_at, result, principal"
)
ARTIFACT_COLUMNS = "id, name, mime, size, sha256, task_id, created_at"
HISTORY_COLUMNS = "history, result, principal"
KEY_COLUMNS = ("key_id, name, role, skills, permissions, digest, created_at, expires_at,"
               " revoked_at, used_at")
KEY_PUT = f"INSERT INTO api_keys({KEY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)"
AUDIT_INSERT = "INSERT INTO audit(seq, ts_us, body, digest) VALUES (?,?,?,?)"
AUDIT_HEAD = "SELECT seq, digest FROM audit ORDER BY seq DESC LIMIT 1"
AUDIT_MARK = "-- audit entry"  # a pending record that the writer turns into an audit row
# A pending write of a group commit: its statement, arguments and who waits for it.
Record = tuple[str, tuple[Any, ...], "asyncio.Future[None] | None"]
CACHE_COLUMNS = "key, value, expires_at, skill_id, version"
PURGED = b"{}"  # what a purge leaves of parameters and config


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


def owned_by(principal: str | None, where: list[str], args: list[Any]) -> None:
    """Narrow ``where`` to the tasks of ``principal`` (None: every task). The local
    principal's tasks are kept with a NULL principal."""
    if principal is None:
        return
    if principal == LOCAL_ID:
        where.append("principal IS NULL")
    else:
        where.append("principal=?")
        args.append(principal)


def task_list(*, status: TaskStatus | None, skill_id: str | None, since: float | None,
              until: float | None, principal: str | None, limit: int,
              columns: str = INFO_COLUMNS) -> tuple[str, list[Any]]:
    """``list_tasks``'s SELECT (``columns``, newest first) and its arguments."""
    where, args = created_between(since, until)
    owned_by(principal, where, args)
    if status is not None:
        where.append("status=?")
        args.append(status.value)
    if skill_id is not None:
        where.append("skill_id=?")
        args.append(skill_id)
    return newest_first(columns, where, args, limit), args


def info(row: tuple[Any, ...], codec: Codec = PLAIN) -> TaskInfo:
    """A row selected as ``INFO_COLUMNS``; ``codec`` opens its sealed result."""
    result = ExecutionResult.from_dict(codec.open_result(
        orjson.loads(row[9]), task_id=row[0], principal=row[10])) if row[9] else None
    return TaskInfo(task_id=row[0], skill_id=row[1], skill_version=row[2],
                    status=TaskStatus(row[3]), priority=row[4], attempts=row[5],
                    created_at=row[6], started_at=row[7], finished_at=row[8], result=result,
                    principal=row[10])


def artifact(row: tuple[Any, ...]) -> ArtifactRecord:
    """A row selected as ``ARTIFACT_COLUMNS``."""
    return ArtifactRecord(ref=ArtifactRef(id=row[0], name=row[1], mime=row[2], size=row[3],
                                          sha256=row[4]),
                          task_id=row[5], created_at=row[6])


def history(row: tuple[Any, ...] | None, codec: Codec = PLAIN, *,
            task_id: str = "") -> list[dict[str, Any]]:
    """The attempts of a row selected as ``HISTORY_COLUMNS`` (of task ``task_id``)."""
    if not row:
        return []
    if row[0]:
        return list(orjson.loads(codec.open("tasks", task_id, "history", row[2], row[0])))
    if row[1]:  # one clean attempt: its record is the result's (metrics: never sealed)
        result = orjson.loads(row[1])
        return [{"attempt": 1, "metrics": result.get("metrics") or {}, "error": None,
                 "decision": "done"}]
    return []


def _names_json(values: frozenset[str] | None) -> bytes | None:
    return None if values is None else orjson.dumps(sorted(values))


def key_values(record: KeyRecord) -> tuple[Any, ...]:
    """``KEY_PUT``'s arguments: the key's digest, never the key."""
    i = record.info
    return (i.key_id, i.name, i.role.value, _names_json(i.skills), _names_json(i.permissions),
            record.digest, i.created_at, i.expires_at, i.revoked_at, i.used_at)


def key(row: tuple[Any, ...]) -> KeyRecord:
    """A row selected as ``KEY_COLUMNS``."""
    def names(blob: Any) -> frozenset[str] | None:
        return None if blob is None else frozenset(orjson.loads(blob))
    return KeyRecord(KeyInfo(row[0], row[1], Role(row[2]), names(row[3]), names(row[4]),
                             row[6], row[7], row[8], row[9]), bytes(row[5]))


def audit_since(after_seq: int, since_us: int | None, limit: int) -> tuple[str, list[Any]]:
    """The SELECT of the audit records after ``after_seq`` (at or after ``since_us``), in
    seq order, at most ``limit``; and its arguments."""
    sql, args = "SELECT seq, ts_us, body, digest FROM audit WHERE seq > ?", [after_seq]
    if since_us is not None:
        sql += " AND ts_us >= ?"
        args.append(since_us)
    args.append(int(limit))
    return sql + " ORDER BY seq LIMIT ?", args


def audit_row(row: tuple[Any, ...]) -> AuditRow:
    """A row selected by ``audit_since``."""
    return AuditRow(row[0], row[1], bytes(row[2]), bytes(row[3]))


def audit_placed(head: tuple[Any, ...] | None, batch: list[Record], *,
                 insert: str = AUDIT_INSERT) -> list[Record]:
    """The batch with its audit entries (``AUDIT_MARK`` records) placed in the chain after
    ``head`` (the row ``AUDIT_HEAD`` read), behind the other records; ``insert``: the
    store's spelling of ``AUDIT_INSERT``. The caller holds the chain's lock from the read
    of the head until its commit, so the head stays the head.

    The records of a run of entries that share one future (a group commit's) are stored in
    one row (:func:`~skillexec.security.audit_chain.grouped`): one SQL row per commit, not
    per task; each record keeps its own place and ``prev`` in the chain."""
    mark = AUDIT_MARK
    entries = [r for r in batch if r[0] is mark]
    out = [r for r in batch if r[0] is not mark] if len(entries) < len(batch) else []
    out += [(insert, row, fut) for row, fut in chain_grouped(
        (head[0], bytes(head[1])) if head else None, entries)]
    return out

# -- payloads in and out (sealed with encryption on) ----------------------------------------

def finished_values(task: ExecutionTask, result: ExecutionResult,
                    history: list[dict[str, Any]], output_json: bytes | None,
                    codec: Codec) -> tuple[Any, ...]:
    """The terminal write's values: status, finished_at, started_at, attempts, result,
    history, summary, task_id (the result's output and error text, the history and the
    summary's message, sealed)."""
    body = result.to_dict()
    if output_json is not None:  # already encoded once, to check its size
        body["output"] = orjson.Fragment(output_json)
    # One clean attempt says nothing the result does not: keep the row small.
    keep = len(history) > 1 or (history and (history[0].get("error")
                                              or history[0].get("leader_task_id")))
    kept = orjson.dumps(history, default=str) if keep else None
    principal = task.request.principal
    summary = summary_json(result, task_id=task.task_id, principal=principal, codec=codec)
    if codec.enabled:
        # (here, not only in seal_result: the body's output may be a Fragment of null)
        if result.output is not None or result.error is not None:
            body = codec.seal_result(body, task_id=task.task_id, principal=principal)
        if kept is not None:
            kept = codec.seal("tasks", task.task_id, "history", principal, kept)
    return (result.status._value_, result.finished_at, result.started_at, result.attempts,
            orjson.dumps(body, default=str), kept, summary, task.task_id)


def event_data(kind: str, data: dict[str, Any], codec: Codec) -> bytes:
    """An event's stored data (the text of an error it carries sealed)."""
    if codec.enabled:
        data = codec.seal_error(data, table="events", row_id=kind, principal=None)
    return orjson.dumps(data, default=str)


def event(row: tuple[Any, ...], codec: Codec) -> dict[str, Any]:
    """A row selected as ``seq, kind, at, data``."""
    return {"seq": row[0], "kind": row[1], "at": row[2],
            "data": codec.open_error(orjson.loads(row[3]), table="events", row_id=row[1],
                                     principal=None)}


def cache_value(record: CacheRecord, codec: Codec) -> bytes:
    """A cached output as stored: an output, sealed like the task's."""
    if codec.enabled:
        return codec.seal("cache", record.key, "value", None, record.value_json)
    return record.value_json


def cache_record(row: tuple[Any, ...], codec: Codec) -> CacheRecord:
    """A row selected as ``CACHE_COLUMNS``."""
    return CacheRecord(key=row[0], value_json=codec.open("cache", row[0], "value", None,
                                                         bytes(row[1])),
                       expires_at=row[2], skill_id=row[3], version=row[4])


# -- purge -----------------------------------------------------------------------------------

def purge_where(*, principal: str | None, everyone: bool,
                before: float | None) -> tuple[list[str], list[Any]]:
    """WHERE terms for the tasks a purge erases: finished ones (a running task's payload
    is still in use) of ``principal`` (None: those run without one) unless ``everyone``,
    created before ``before``."""
    where = ["finished_at IS NOT NULL"]
    args: list[Any] = []
    if not everyone:
        if principal is None:
            where.append("principal IS NULL")
        else:
            where.append("principal=?")
            args.append(principal)
    if before is not None:
        where.append("task_id < ?")  # ids start with the creation time (task.new_task_id)
        args.append(f"{max(0, int(before * 1e6)):014x}")
    return where, args


def purged_result(result: bytes | None) -> bytes | None:
    """A stored result with its output, error text and sealed part gone (state, times,
    metrics and error code stay for reports), marked purged; a stored summary likewise
    (its wall time, error code and artifact count stay: ``storage.summary``)."""
    if not result:
        return result
    body = orjson.loads(result)
    body["output"] = None
    body.pop("sealed", None)
    error = body.get("error")
    if isinstance(error, dict):
        error["message"] = "(purged)"
        error.pop("details", None)
    body["purged"] = True
    return orjson.dumps(body)
