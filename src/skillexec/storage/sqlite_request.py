"""The one mapping between a :class:`~skillexec.request.Request` and a ``tasks`` row."""

from __future__ import annotations

from typing import Any

import orjson

from skillexec.storage.codec import PLAIN, Codec
from skillexec.storage.store import StoredTask
from skillexec.task import ExecutionTask, Request, TaskStatus

__all__ = ["INSERT_TASK", "STORED_COLUMNS", "insert_row", "insert_values", "stored_task"]

# In Request's field order, so that a row's tail is the Request's fields.
_REQUEST_COLUMNS = ("skill_id, skill_version, params, config, priority, timeout_s, max_retries,"
                    " idempotent, created_at, principal, deadline_s, folder")
_N = _REQUEST_COLUMNS.count(",") + 1

INSERT_TASK = (f"INSERT INTO tasks(task_id, status, started_at, attempts, {_REQUEST_COLUMNS})"
               f" VALUES ({','.join('?' * (4 + _N))})")
STORED_COLUMNS = f"task_id, status, attempts, cancel_requested, {_REQUEST_COLUMNS}"


def insert_values(task: ExecutionTask, codec: Codec = PLAIN) -> tuple[Any, ...]:
    """The row of a task being queued.

    Its timeout and retries are the task's as queued (after advice and the resource clamp,
    which ran at acceptance and do not run again), so that a resumed task runs as it would
    have here.
    """
    r = task.request
    params, config = _payloads(task, codec)
    return (task.task_id, task.status._value_, task.started_at, task.attempts, r.skill_id,
            r.skill_version, params, config, r.priority,
            task.timeout_s, task.max_retries, int(r.idempotent), r.created_at, r.principal,
            r.deadline_s, r.folder)


def insert_row(task: ExecutionTask, texts: list[str],
               codec: Codec = PLAIN) -> tuple[str, tuple[Any, ...]]:
    """:func:`insert_values` as SQLite binds it cheapest (made here at once, not from that
    tuple): the statement among ``texts`` (``INSERT_TASK``'s
    :func:`~skillexec.storage.sqlite_binding.variants` for started_at, principal and
    deadline_s and folder: 2, 13, 14, 15) that spells the absent ones NULL, and the values
    without them, the payloads as bytearray."""
    r = task.request
    params, config = _payloads(task, codec)
    started, principal, deadline, folder = task.started_at, r.principal, r.deadline_s, r.folder
    row: list[Any] = [task.task_id, task.status._value_]
    if started is not None:
        row.append(started)
    row += (task.attempts, r.skill_id, r.skill_version, bytearray(params), bytearray(config),
            r.priority, task.timeout_s, task.max_retries, int(r.idempotent), r.created_at)
    if principal is not None:
        row.append(principal)
    if deadline is not None:
        row.append(deadline)
    if folder is not None:  # None: a refusal's (it never runs again)
        row.append(folder)
    return texts[(started is None) | (principal is None) << 1 | (deadline is None) << 2
                 | (folder is None) << 3], tuple(row)


def _payloads(task: ExecutionTask, codec: Codec) -> tuple[bytes, bytes]:
    r = task.request
    params, config = orjson.dumps(r.params), orjson.dumps(r.config)
    if codec.enabled:
        # An empty object hides nothing (most calls have no config, many no parameters),
        # and it reads back as a purged payload does: left clear, no seal to pay for.
        if params != b"{}":
            params = codec.seal("tasks", task.task_id, "params", r.principal, params)
        if config != b"{}":
            config = codec.seal("tasks", task.task_id, "config", r.principal, config)
    return params, config


def stored_task(row: tuple[Any, ...], codec: Codec = PLAIN) -> StoredTask:
    """A row selected as ``STORED_COLUMNS``."""
    (skill_id, version, params, config, priority, timeout_s, max_retries, idempotent,
     created_at, principal, deadline, folder) = row[4:]
    params = codec.open("tasks", row[0], "params", principal, params)
    config = codec.open("tasks", row[0], "config", principal, config)
    return StoredTask(task_id=row[0], status=TaskStatus(row[1]), attempts=row[2],
                      cancel_requested=bool(row[3]),
                      request=Request(skill_id, version, orjson.loads(params),
                                      orjson.loads(config), priority, timeout_s, max_retries,
                                      bool(idempotent), created_at, principal, deadline,
                                      folder))
