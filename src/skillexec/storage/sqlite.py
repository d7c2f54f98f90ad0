"""The embedded journal: one SQLite file in WAL mode, written with group commit.

Callers add records and get a future that resolves once the transaction holding the record
has committed. Every record added during one turn of the event loop goes into one
transaction, written at the end of that turn on the loop's own thread: a WAL commit without
fsync costs microseconds, whereas a writer thread would fight the loop for the GIL at every
row (measured: 3x slower). Checkpoints, which do fsync, run on a thread of their own. Reads
use another connection in a thread (WAL lets them run beside the writer).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from skillexec.errors import ResourceError
from skillexec.storage.sqlite_cache import SQLiteCacheMixin
from skillexec.storage.store import ArtifactRecord, StoredTask
from skillexec.task import ArtifactRef, ExecutionResult, ExecutionTask, TaskInfo, TaskStatus

__all__ = ["SQLiteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    skill_id TEXT NOT NULL,
    skill_version TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL,
    params BLOB NOT NULL,
    config BLOB NOT NULL,
    timeout_s REAL NOT NULL,
    max_retries INTEGER NOT NULL,
    idempotent INTEGER NOT NULL,
    principal TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    result BLOB,
    history BLOB,
    cancel_requested INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- Task ids sort by time, so the table itself is in creation order. The partial index holds
-- only unfinished tasks, and a task enters it once and leaves it once: indexing status
-- instead would move every task in and out of an index at each of its state changes.
CREATE INDEX IF NOT EXISTS tasks_unfinished ON tasks(task_id) WHERE finished_at IS NULL;
CREATE INDEX IF NOT EXISTS tasks_skill ON tasks(skill_id, task_id);
CREATE TABLE IF NOT EXISTS artifacts (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    task_id TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_sha ON artifacts(sha256);
CREATE INDEX IF NOT EXISTS artifacts_created ON artifacts(created_at);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    at REAL NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind, seq);
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY,
    skill_id TEXT NOT NULL,
    version TEXT NOT NULL,
    value BLOB NOT NULL,
    expires_at REAL,
    created_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cache_skill ON cache(skill_id, version);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '1');
"""

_INSERT = (
    "INSERT INTO tasks(task_id, skill_id, skill_version, status, priority, params, config,"
    " timeout_s, max_retries, idempotent, principal, created_at, started_at, attempts)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_STARTED = (
    "UPDATE tasks SET status=?, started_at=coalesce(started_at, ?), attempts=?"
    " WHERE task_id=? AND finished_at IS NULL"
)
_FINISHED = (
    "UPDATE tasks SET status=?, finished_at=?, started_at=coalesce(started_at, ?), attempts=?,"
    " result=?, history=? WHERE task_id=? AND finished_at IS NULL"
)
_ARTIFACT = (
    "INSERT OR REPLACE INTO artifacts(id, sha256, name, mime, size, task_id, created_at)"
    " VALUES (?,?,?,?,?,?,?)"
)
_EVENT = "INSERT INTO events(kind, at, data) VALUES (?,?,?)"
_REQUEST_COLUMNS = (
    "task_id, skill_id, skill_version, status, priority, params, config, timeout_s,"
    " max_retries, idempotent, attempts, created_at, cancel_requested, principal"
)
_INFO_COLUMNS = (
    "task_id, skill_id, skill_version, status, priority, attempts, created_at, started_at,"
    " finished_at, result"
)

_Record = tuple[str, tuple[Any, ...], "asyncio.Future[None] | None"]


class SQLiteStore(SQLiteCacheMixin):
    """The TaskStore of the embedded engine."""

    def __init__(self, path: Path, *, synchronous: str = "normal", max_batch: int = 2000,
                 checkpoint_interval_s: float = 1.0) -> None:
        self.path = path
        self._synchronous = synchronous.upper()
        self._max_batch = max_batch
        self._checkpoint_interval_s = checkpoint_interval_s
        self._pending: list[_Record] = []
        self._scheduled = False
        self._write: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._read: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._failure: BaseException | None = None
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._write = self._connect()
        self._write.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it
        self._write.executescript(_SCHEMA)
        self._read = self._connect()
        self._stop.clear()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, daemon=True,
                                              name="skillexec-checkpoint")
        self._checkpointer.start()

    async def close(self) -> None:
        if self._write is not None:
            self._flush()
            self._stop.set()
            if self._checkpointer is not None:
                await asyncio.to_thread(self._checkpointer.join)
                self._checkpointer = None
            self._write.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._write.close()
            self._write = None
        if self._read is not None:
            self._read.close()
            self._read = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _checkpoint_loop(self) -> None:
        conn = self._connect()
        try:
            while not self._stop.wait(self._checkpoint_interval_s):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    pass  # busy now; the next round will do it
        finally:
            conn.close()

    # -- writes ----------------------------------------------------------------------------

    def _put(self, sql: str, args: tuple[Any, ...]) -> asyncio.Future[None]:
        loop = self._loop
        assert loop is not None, "the store is not open"
        fut = loop.create_future()
        if threading.get_ident() != self._loop_thread:
            # A sync skill saving an artifact from its worker thread.
            loop.call_soon_threadsafe(self._add, (sql, args, None))
            fut.set_result(None)
        elif self._failure is not None:
            fut.set_exception(self._journal_error(self._failure))
        else:
            self._add((sql, args, fut))
        return fut

    def _add(self, record: _Record) -> None:
        self._pending.append(record)
        if len(self._pending) >= self._max_batch:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if not batch or self._write is None:
            return
        conn = self._write
        errors: list[BaseException | None] | None = None
        try:
            conn.execute("BEGIN")
            _execute_grouped(conn, batch)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            # One bad record must not take the rest of its group commit with it: write
            # them again one by one, each in a savepoint, and fail only those that fail.
            errors = _one_by_one(conn, batch) if len(batch) > 1 else [exc]
            self._failure = next((e for e in errors if e is not None), None)
        for i, (_, _, fut) in enumerate(batch):
            if fut is not None and not fut.done():
                error = errors[i] if errors is not None else None
                if error is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(self._journal_error(error))

    def queued(self, task: ExecutionTask) -> Awaitable[None]:
        return self._put(_INSERT, (
            task.task_id, task.skill_id, task.skill_version, task.status._value_, task.priority,
            orjson.dumps(task.params), orjson.dumps(task.config), task.timeout_s,
            task.max_retries, int(task.idempotent), task.principal, task.created_at,
            task.started_at, task.attempts,
        ))

    def started(self, task: ExecutionTask) -> Awaitable[None]:
        return self._put(_STARTED, (task.status._value_, task.started_at, task.attempts,
                                    task.task_id))

    def retrying(self, task: ExecutionTask) -> Awaitable[None]:
        return self._put(_STARTED, (TaskStatus.RETRYING.value, task.started_at, task.attempts,
                                    task.task_id))

    def finished(self, task: ExecutionTask, result: ExecutionResult,
                 history: list[dict[str, Any]], *,
                 output_json: bytes | None = None) -> Awaitable[None]:
        body = result.to_dict()
        if output_json is not None:  # already encoded once, to check its size
            body["output"] = orjson.Fragment(output_json)
        # One clean attempt says nothing the result does not: keep the row small.
        keep = len(history) > 1 or (history and (history[0].get("error")
                                                  or history[0].get("leader_task_id")))
        return self._put(_FINISHED, (
            result.status._value_, result.finished_at, result.started_at, result.attempts,
            orjson.dumps(body, default=str),
            orjson.dumps(history, default=str) if keep else None, task.task_id,
        ))

    def append_event(self, kind: str, data: dict[str, Any]) -> Awaitable[None]:
        return self._put(_EVENT, (kind, time.time(), orjson.dumps(data, default=str)))

    async def read_events(self, kind: str | None = None, *, since: float = 0.0,
                          limit: int = 1000) -> list[dict[str, Any]]:
        sql = "SELECT seq, kind, at, data FROM events WHERE at >= ?"
        args: list[Any] = [since]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        sql += " ORDER BY seq LIMIT ?"
        args.append(int(limit))
        rows = await self._query(lambda c: c.execute(sql, args).fetchall())
        return [{"seq": r[0], "kind": r[1], "at": r[2], "data": orjson.loads(r[3])}
                for r in rows]

    def artifact(self, record: ArtifactRecord) -> Awaitable[None]:
        ref = record.ref
        return self._put(_ARTIFACT, (ref.id, ref.sha256, ref.name, ref.mime, ref.size,
                                     record.task_id, record.created_at))

    @staticmethod
    def _journal_error(exc: BaseException) -> ResourceError:
        return ResourceError(f"the journal could not be written: {exc}",
                             code="journal_write_failed")

    # -- reads -----------------------------------------------------------------------------

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
                         until: float | None = None) -> list[TaskInfo]:
        where, args = _created_between(since, until)
        if status is not None:
            where.append("status=?")
            args.append(status.value)
        if skill_id is not None:
            where.append("skill_id=?")
            args.append(skill_id)
        sql = f"SELECT {_INFO_COLUMNS} FROM tasks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY task_id DESC LIMIT ?"
        args.append(int(limit))
        rows = await self._query(lambda c: c.execute(sql, args).fetchall())
        return [_info(r) for r in rows]

    async def unfinished(self) -> list[StoredTask]:
        rows = await self._query(lambda c: c.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM tasks WHERE finished_at IS NULL ORDER BY task_id"
        ).fetchall())
        return [_request(r) for r in rows]

    async def requests(self, *, since: float | None = None, until: float | None = None,
                       limit: int = 100_000) -> list[StoredTask]:
        where, args = _created_between(since, until)
        sql = f"SELECT {_REQUEST_COLUMNS} FROM tasks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY task_id DESC LIMIT ?"
        args.append(int(limit))
        rows = await self._query(lambda c: c.execute(sql, args).fetchall())
        return [_request(r) for r in rows]

    async def get_request(self, task_id: str) -> StoredTask | None:
        row = await self._query(lambda c: c.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM tasks WHERE task_id=?", (task_id,)).fetchone())
        return _request(row) if row else None

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


def _one_by_one(conn: sqlite3.Connection, batch: list[_Record]) -> list[BaseException | None]:
    errors: list[BaseException | None] = [None] * len(batch)
    try:
        conn.execute("BEGIN")
        for i, (sql, args, _) in enumerate(batch):
            conn.execute("SAVEPOINT one")
            try:
                conn.execute(sql, args)
                conn.execute("RELEASE one")
            except sqlite3.Error as exc:
                errors[i] = exc
                conn.execute("ROLLBACK TO one")
                conn.execute("RELEASE one")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:  # the database itself fails (disk full, I/O): all fail
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        return [exc] * len(batch)
    return errors


def _execute_grouped(conn: sqlite3.Connection, batch: list[_Record]) -> None:
    """executemany over runs of the same statement, keeping the order of the records."""
    start = 0
    n = len(batch)
    while start < n:
        sql = batch[start][0]
        end = start + 1
        while end < n and batch[end][0] == sql:
            end += 1
        if end - start == 1:
            conn.execute(sql, batch[start][1])
        else:
            conn.executemany(sql, [r[1] for r in batch[start:end]])
        start = end


def _request(r: tuple[Any, ...]) -> StoredTask:
    return StoredTask(task_id=r[0], skill_id=r[1], skill_version=r[2], status=TaskStatus(r[3]),
                      priority=r[4], params=orjson.loads(r[5]), config=orjson.loads(r[6]),
                      timeout_s=r[7], max_retries=r[8], idempotent=bool(r[9]),
                      attempts=r[10], created_at=r[11], cancel_requested=bool(r[12]),
                      principal=r[13])


def _info(row: tuple[Any, ...]) -> TaskInfo:
    result = ExecutionResult.from_dict(orjson.loads(row[9])) if row[9] else None
    return TaskInfo(task_id=row[0], skill_id=row[1], skill_version=row[2],
                    status=TaskStatus(row[3]), priority=row[4], attempts=row[5],
                    created_at=row[6], started_at=row[7], finished_at=row[8], result=result)


def _artifact(row: tuple[Any, ...]) -> ArtifactRecord:
    return ArtifactRecord(ref=ArtifactRef(id=row[0], name=row[1], mime=row[2], size=row[3],
                                          sha256=row[4]),
                          task_id=row[5], created_at=row[6])

