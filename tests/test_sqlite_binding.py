"""A task's rows bound without sqlite3's adapters store exactly what plain binding does."""

from __future__ import annotations

import sqlite3
from typing import Any

from skillexec.storage.sqlite_binding import finished_row, variants
from skillexec.storage.sqlite_request import INSERT_TASK, insert_row, insert_values
from skillexec.task import ExecutionTask, Request

_SCHEMA = ("CREATE TABLE tasks(task_id TEXT, status TEXT, started_at REAL, attempts INTEGER,"
           " skill_id TEXT, skill_version TEXT, params BLOB, config BLOB, priority INTEGER,"
           " timeout_s REAL, max_retries INTEGER, idempotent INTEGER, created_at REAL,"
           " principal TEXT, deadline_s REAL, folder TEXT, result BLOB, history BLOB,"
           " summary BLOB, finished_at REAL)")
_END = ("UPDATE tasks SET status=?, finished_at=?, started_at=coalesce(started_at, ?),"
        " attempts=?, result=?, history=?, summary=? WHERE task_id=?")


def _task(i: int, *, started: float | None, principal: str | None,
          deadline: float | None, folder: str | None = "/skills/noop") -> ExecutionTask:
    task = ExecutionTask.of(f"t{i}", Request("noop", "1.0", {"a": 1}, {}, 5, 60.0, 3, True,
                                             1000.0 + i, principal, deadline, folder))
    task.started_at = started
    return task


def _table(plain: bool) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(":memory:")
    conn.execute(_SCHEMA)
    inserts, ends = variants(INSERT_TASK, (2, 13, 14, 15)), variants(_END, (5,))
    i = 0
    for started in (None, 2.5):
        for principal in (None, "bench"):
            for deadline in (None, 9.0):
                task = _task(i, started=started, principal=principal, deadline=deadline,
                             folder=None if i % 3 else "/skills/noop")  # None: a refusal's
                end = ("succeeded", 3.0 + i, 2.0, 1, b'{"output":null}',
                       None if i % 2 else b'[{"attempt":1}]', b'{"wall_ms":1}', f"t{i}")
                if plain:
                    conn.execute(INSERT_TASK, insert_values(task))
                    conn.execute(_END, end)
                else:
                    sql, args = insert_row(task, inserts)
                    assert sql.count("?") == len(args)
                    assert all(a.__class__ in (str, int, float, bytearray) for a in args)
                    conn.execute(sql, args)
                    sql, args = finished_row(ends, end)
                    assert all(a.__class__ in (str, int, float, bytearray) for a in args)
                    conn.execute(sql, args)
                i += 1
    return conn.execute("SELECT *, typeof(params), typeof(result), typeof(history),"
                        " typeof(summary) FROM tasks ORDER BY task_id").fetchall()


def test_rows_store_the_same_as_plain_binding() -> None:
    got = _table(plain=False)
    assert got == _table(plain=True)
    assert got[0][6] == b'{"a":1}' and got[0][6].__class__ is bytes  # read back as bytes


def test_one_statement_text_per_pattern_of_absent_values() -> None:
    texts = variants("INSERT INTO t(a, b, c) VALUES (?,?,?)", (0, 2))
    assert texts == ["INSERT INTO t(a, b, c) VALUES (?,?,?)",
                     "INSERT INTO t(a, b, c) VALUES (NULL,?,?)",
                     "INSERT INTO t(a, b, c) VALUES (?,?,NULL)",
                     "INSERT INTO t(a, b, c) VALUES (NULL,?,NULL)"]
    inserts = variants(INSERT_TASK, (2, 13, 14, 15))
    first, _ = insert_row(_task(1, started=1.0, principal="p", deadline=None), inserts)
    again, _ = insert_row(_task(2, started=1.0, principal="q", deadline=None), inserts)
    assert first is again  # runs of it group in one executemany
