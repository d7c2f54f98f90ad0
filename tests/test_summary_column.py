"""The task list's summaries read no result: ``GET /api/executions?fields=summary`` (the
dashboard polls it every 3 s) read and decoded every listed task's whole result (decrypted
too, with encryption on) to keep its wall time, error gist and artifact count: 0.3 s of the
server's CPU per refresh with results of 15 MB. The journal now writes a small summary with
the result (SQLite, PostgreSQL, the memory store) and lists those; a row journaled before
the column existed is summarized from its result, as before. The summary's message is
sealed like the result's, and a purge blanks it as it blanks the result."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from skillexec.errors import ErrorInfo, ErrorType, ResourceError
from skillexec.security.keyring import Keyring
from skillexec.storage import postgres_schema
from skillexec.storage.codec import PLAIN, Codec, SealingCodec
from skillexec.storage.memory import MemoryStore
from skillexec.storage.sqlite_request import INSERT_TASK, insert_values
from skillexec.storage.store import TaskStore
from skillexec.storage.summary import ResultSummary, summary_of
from skillexec.task import (
    ArtifactRef,
    ExecutionResult,
    ExecutionTask,
    Request,
    TaskStatus,
    new_task_id,
)
from tests._http import running
from tests.conftest import arun

pytestmark = pytest.mark.timeout(300)
MB = 1_000_000
LONG = "ünïcode, personal: alice@example.org " * 20  # over 300 characters
SECRET = "alice@example.org"

# The tasks table as the previous release made it (no summary column).
_OLD_TASKS = """
CREATE TABLE tasks (
    task_id TEXT PRIMARY KEY, skill_id TEXT NOT NULL, skill_version TEXT NOT NULL,
    status TEXT NOT NULL, priority INTEGER NOT NULL, params BLOB NOT NULL,
    config BLOB NOT NULL, timeout_s REAL NOT NULL, max_retries INTEGER NOT NULL,
    idempotent INTEGER NOT NULL, principal TEXT, created_at REAL NOT NULL, deadline_s REAL,
    folder TEXT, started_at REAL, finished_at REAL, attempts INTEGER NOT NULL DEFAULT 0,
    result BLOB, history BLOB, cancel_requested INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""
_OLD_END = "UPDATE tasks SET status=?, finished_at=?, attempts=?, result=? WHERE task_id=?"


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The task ids of the results decoded (ExecutionResult.from_dict) while it is held."""
    seen: list[str] = []
    original = ExecutionResult.from_dict.__func__  # type: ignore[attr-defined]

    def counting(cls: type[ExecutionResult], data: dict[str, Any]) -> ExecutionResult:
        seen.append(str(data.get("task_id")))
        result: ExecutionResult = original(cls, data)
        return result

    monkeypatch.setattr(ExecutionResult, "from_dict", classmethod(counting))
    yield seen


def _task(principal: str | None = "alice") -> ExecutionTask:
    return ExecutionTask.of(new_task_id(), Request("s", "1.0.0", {"n": 1}, {}, 5, 2.5, 0, True,
                                                   time.time(), principal, None))


def _result(t: ExecutionTask, kind: str, size: int = 0) -> ExecutionResult:
    now = time.time()
    status = {"ok": TaskStatus.SUCCEEDED, "failed": TaskStatus.FAILED,
              "refused": TaskStatus.REJECTED}[kind]
    error = None if kind == "ok" else ErrorInfo(
        ErrorType.EXECUTION if kind == "failed" else ErrorType.PARAMETER,
        "boom" if kind == "failed" else "invalid_parameters", LONG, details={"k": SECRET})
    arts = (ArtifactRef(id=f"a{t.task_id}", name="r.txt", mime="text/plain", size=3,
                        sha256="0" * 64),) if kind == "ok" else ()
    return ExecutionResult(t.task_id, "s", "1.0.0", status,
                           output={"text": "x" * size} if kind == "ok" else None, error=error,
                           attempts=0 if kind == "refused" else 1, artifacts=arts,
                           metrics={} if kind == "refused" else {"wall_ms": 12.5},
                           created_at=t.request.created_at, started_at=now, finished_at=now)


async def _journal(s: TaskStore, kinds: list[str], size: int = 0) -> list[str]:
    ids = []
    for kind in kinds:
        t = _task()
        await s.queued(t)
        await s.finished(t, _result(t, kind, size), [])
        ids.append(t.task_id)
    return ids


def _codec(tmp_path: Path, sealed: bool) -> Codec:
    return SealingCodec(Keyring.open(tmp_path / "keyring.json", os.urandom(32))) \
        if sealed else PLAIN


def _store(kind: str, codec: Codec, tmp_path: Path, url: str | None) -> TaskStore:
    if kind == "sqlite":
        from skillexec.storage.sqlite import SQLiteStore
        return SQLiteStore(tmp_path / "journal.db", codec=codec)
    from skillexec.storage.postgres import PostgresStore
    assert url is not None
    return PostgresStore(url, codec=codec)


def _using(store: TaskStore, body: Callable[[TaskStore], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()
    return arun(go())


def _raw_summaries(kind: str, tmp_path: Path, url: str | None) -> bytes:
    if kind == "sqlite":
        with sqlite3.connect(tmp_path / "journal.db") as db:
            rows = db.execute("SELECT summary FROM tasks").fetchall()
    else:
        with psycopg.connect(url or "", autocommit=True) as conn:
            rows = conn.execute("SELECT summary FROM tasks").fetchall()
    return b"".join(bytes(r[0]) for r in rows if r[0] is not None)


async def _both(s: TaskStore) -> tuple[dict[str, ResultSummary | None], dict[str, Any]]:
    """Each task's summary as listed, and as made from its decoded result (what the API
    answered before)."""
    listed = {t.task_id: t.result for t in await s.list_summaries(limit=100)}
    full = {i.task_id: None if i.result is None else summary_of(i.result)
            for i in await s.list_tasks(limit=100)}
    return listed, full


@pytest.fixture(params=["sqlite", "postgresql", "sqlite-sealed", "postgresql-sealed"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, bool, str | None]:
    kind, _, sealed = str(request.param).partition("-")
    url = request.getfixturevalue("pg_url") if kind == "postgresql" else None
    return kind, bool(sealed), url


def test_the_summaries_read_no_result_and_say_what_the_results_do(
        journal: tuple[str, bool, str | None], tmp_path: Path, decoded: list[str]) -> None:
    kind, sealed, url = journal
    codec = _codec(tmp_path, sealed)

    async def body(s: TaskStore) -> tuple[Any, ...]:
        ids = await _journal(s, ["ok"] * 5, size=6 * MB)
        ids += await _journal(s, ["failed", "refused"])
        pending = _task()
        await s.queued(pending)
        decoded.clear()
        took = []
        for _ in range(3):
            start = time.perf_counter()
            summaries = await s.list_summaries(limit=100)
            took.append(time.perf_counter() - start)
        reads = list(decoded)
        start = time.perf_counter()
        await s.list_tasks(limit=100)
        full_s = time.perf_counter() - start
        listed, full = await _both(s)
        return ids, pending.task_id, summaries, reads, min(took), full_s, listed, full

    ids, pending, summaries, reads, summary_s, full_s, listed, full = _using(
        _store(kind, codec, tmp_path, url), body)
    assert reads == []  # no result decoded
    assert summary_s < full_s / 5, (summary_s, full_s)  # results of 6 MB: not read either
    assert [t.task_id for t in summaries] == [pending, *reversed(ids)]
    assert all(t.info.result is None for t in summaries)
    assert listed == full  # the same fields as from the results
    ok, failed, refused = listed[ids[0]], listed[ids[5]], listed[ids[6]]
    assert ok == ResultSummary(wall_ms=12.5, error_code=None, error_message=None, artifacts=1)
    assert failed == ResultSummary(12.5, "boom", LONG[:300], 0)
    assert refused == ResultSummary(None, "invalid_parameters", LONG[:300], 0)
    assert listed[pending] is None
    raw = _raw_summaries(kind, tmp_path, url)
    assert (SECRET.encode() in raw) is not sealed  # the message is sealed with encryption on


def test_a_purge_blanks_the_summary_as_it_blanks_the_result(
        journal: tuple[str, bool, str | None], tmp_path: Path) -> None:
    kind, sealed, url = journal

    async def body(s: TaskStore) -> tuple[Any, ...]:
        ids = await _journal(s, ["ok", "failed", "refused"])
        await s.purge(principal="alice")
        listed, full = await _both(s)
        return ids, listed, full

    ids, listed, full = _using(_store(kind, _codec(tmp_path, sealed), tmp_path, url), body)
    assert listed == full
    assert listed[ids[1]] == ResultSummary(12.5, "boom", "(purged)", 0)
    assert listed[ids[2]] == ResultSummary(None, "invalid_parameters", "(purged)", 0)
    assert listed[ids[0]] == ResultSummary(12.5, None, None, 1)
    raw = _raw_summaries(kind, tmp_path, url)
    assert SECRET.encode() not in raw and b"sealed" not in raw


def test_a_sealed_summary_moved_or_replaced_in_clear_fails_to_open(tmp_path: Path) -> None:
    codec = _codec(tmp_path, True)

    async def body(s: TaskStore) -> list[str]:
        return await _journal(s, ["failed", "failed"])

    a, b = _using(_store("sqlite", codec, tmp_path, None), body)
    forged = orjson.dumps({"wall_ms": 1, "artifacts": 0,
                           "error": {"code": "x", "message": "forged"}})
    with sqlite3.connect(tmp_path / "journal.db") as db:
        moved = db.execute("SELECT summary FROM tasks WHERE task_id=?", (a,)).fetchone()[0]
    for row, value in ((b, moved), (a, forged)):  # another row's ciphertext; a clear one
        with sqlite3.connect(tmp_path / "journal.db") as db:
            db.execute("UPDATE tasks SET summary=NULL")  # summarized from the results
            db.execute("UPDATE tasks SET summary=? WHERE task_id=?", (value, row))
        with pytest.raises(ResourceError) as err:
            _using(_store("sqlite", codec, tmp_path, None), lambda s: s.list_summaries())
        assert err.value.code == "decrypt_failed"


def _old_rows(write: Callable[[str, tuple[Any, ...]], None]) -> list[str]:
    """Tasks ended as the previous release wrote them: a result, no summary."""
    ids = []
    for kind in ("ok", "failed", "refused"):
        t = _task()
        r = _result(t, kind, size=MB)
        write(INSERT_TASK, insert_values(t))
        write(_OLD_END, (r.status.value, r.finished_at, r.attempts,
                         orjson.dumps(r.to_dict()), t.task_id))
        ids.append(t.task_id)
    return ids


def _old_journal_then_new_rows(store: TaskStore, old: list[str],
                               decoded: list[str]) -> None:
    async def body(s: TaskStore) -> tuple[Any, ...]:
        listed, full = await _both(s)
        new = await _journal(s, ["ok", "failed"], size=MB)
        decoded.clear()
        summaries = {t.task_id: t.result for t in await s.list_summaries(limit=100)}
        return listed, full, new, summaries, list(decoded)

    listed, full, new, summaries, reads = _using(store, body)
    assert listed == full and set(old) <= set(listed)  # old rows: from their results
    assert listed[old[1]] == ResultSummary(12.5, "boom", LONG[:300], 0)
    assert listed[old[0]] == ResultSummary(12.5, None, None, 1)
    assert sorted(reads) == sorted(old)  # the new rows' summaries decode no result
    assert summaries[new[1]] == ResultSummary(12.5, "boom", LONG[:300], 0)


def test_a_journal_of_the_previous_schema_gets_the_column_and_reads_old_rows(
        tmp_path: Path, decoded: list[str]) -> None:
    with sqlite3.connect(tmp_path / "journal.db") as db:
        db.executescript(_OLD_TASKS)
        old = _old_rows(lambda sql, args: db.execute(sql, args) and None)
    _old_journal_then_new_rows(_store("sqlite", PLAIN, tmp_path, None), old, decoded)
    with sqlite3.connect(tmp_path / "journal.db") as db:
        assert "summary" in {r[1] for r in db.execute("PRAGMA table_info(tasks)")}


def test_a_postgresql_journal_of_the_previous_schema_is_migrated(
        fresh_pg: str, tmp_path: Path, decoded: list[str]) -> None:
    async def old_schema() -> None:
        async with await psycopg.AsyncConnection.connect(fresh_pg, autocommit=True) as c:
            await postgres_schema.migrate(c, upto=4)

    arun(old_schema())
    with psycopg.connect(fresh_pg, autocommit=True) as conn:
        old = _old_rows(lambda sql, args: conn.execute(sql.replace("?", "%s"), args)
                        and None)
    _old_journal_then_new_rows(_store("postgresql", PLAIN, tmp_path, fresh_pg), old, decoded)
    with psycopg.connect(fresh_pg, autocommit=True) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (5,)


def test_the_memory_store_lists_the_same_summaries() -> None:
    async def body(s: TaskStore) -> tuple[Any, ...]:
        await _journal(s, ["ok", "failed", "refused"])
        return await _both(s)

    listed, full = _using(MemoryStore(), body)
    assert listed == full and len(listed) == 3


def test_the_dashboard_list_decodes_no_result(tmp_path: Path, decoded: list[str]) -> None:
    """Over HTTP, as the dashboard asks: the same answer as before, no result decoded."""
    with running(tmp_path) as srv:
        runner = srv.key("runner")
        with srv.client(runner) as c:
            ids = [c.post("/api/skills/echo/execute", json={
                "parameters": {"text": "x", "times": 3 * MB}}).json()["data"]["task_id"]
                for _ in range(3)]
            ids.append(c.post("/api/skills/boom/execute", json={}).json()["data"]["task_id"])
            ids.append(c.post("/api/skills/report/execute", json={}).json()["data"]["task_id"])
            c.post("/api/skills/echo/execute", json={"parameters": {"times": "x"}})  # refused
            decoded.clear()
            short = c.get("/api/executions", params={"fields": "summary"}).json()["data"]
            reads = [t for t in decoded if t in ids]
            full = c.get("/api/executions").json()["data"]
    assert reads == []
    assert [t["error"]["code"] for t in short["items"] if t["status"] == "rejected"] == \
        ["invalid_parameters"]
    items = {t["task_id"]: t for t in short["items"]}
    assert set(ids) < set(items) and len(items) == 6
    for t in full["items"]:
        s, result = items[t["task_id"]], t["result"]
        error = result["error"]
        assert s["wall_ms"] == result["metrics"].get("wall_ms")
        assert s["error"] == (None if error is None else
                              {"code": error["code"], "message": error["message"][:300]})
        assert s["artifacts"] == len(result["artifacts"])
        assert {k: v for k, v in s.items() if k not in ("wall_ms", "error", "artifacts")} == \
            {k: v for k, v in t.items() if k != "result"}
    assert items[ids[4]]["artifacts"] == 1 and items[ids[3]]["error"]["code"]
