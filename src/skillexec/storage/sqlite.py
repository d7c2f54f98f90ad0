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
import contextlib
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from skillexec.errors import ResourceError
from skillexec.storage.codec import PLAIN, Codec
from skillexec.storage.rows import event, event_data, finished_values
from skillexec.storage.sqlite_binding import finished_row, variants
from skillexec.storage.sqlite_cache import SQLiteCacheMixin
from skillexec.storage.sqlite_purge import SQLiteVacuumMixin
from skillexec.storage.sqlite_queries import SQLiteQueriesMixin
from skillexec.storage.sqlite_request import INSERT_TASK, insert_row
from skillexec.storage.sqlite_schema import migrate
from skillexec.storage.sqlite_security import (
    AUDIT_MARK,
    SQLiteSecurityMixin,
    commit_audited,
    place_audit,
)
from skillexec.storage.store import ArtifactRecord
from skillexec.task import ExecutionResult, ExecutionTask, TaskStatus

__all__ = ["SQLiteStore"]

_STARTED = (
    "UPDATE tasks SET status=?, started_at=coalesce(started_at, ?), attempts=?"
    " WHERE task_id=? AND finished_at IS NULL"
)
_FINISHED = (
    "UPDATE tasks SET status=?, finished_at=?, started_at=coalesce(started_at, ?), attempts=?,"
    " result=?, history=?, summary=? WHERE task_id=? AND finished_at IS NULL"
)
_ARTIFACT = (
    "INSERT OR REPLACE INTO artifacts(id, sha256, name, mime, size, task_id, created_at)"
    " VALUES (?,?,?,?,?,?,?)"
)
_EVENT = "INSERT INTO events(kind, at, data) VALUES (?,?,?)"
# The rows of every task, bound without sqlite3's adapter lookups (sqlite_binding): a
# task's insert (started_at, principal, deadline_s often absent, a refusal's folder too;
# params, config) and its end (history mostly absent; result, summary).
_INSERTS = variants(INSERT_TASK, (2, 13, 14, 15))
_ENDS = variants(_FINISHED, (5,))
_Record = tuple[str, tuple[Any, ...], "asyncio.Future[None] | None"]


class SQLiteStore(SQLiteQueriesMixin, SQLiteCacheMixin, SQLiteSecurityMixin,
                  SQLiteVacuumMixin):
    """The TaskStore of the embedded engine."""

    def __init__(self, path: Path, *, synchronous: str = "normal", max_batch: int = 2000,
                 checkpoint_interval_s: float = 1.0, codec: Codec = PLAIN) -> None:
        self.path = path
        self._codec = codec
        self._synchronous = synchronous.upper()
        self._max_batch = max_batch
        self._checkpoint_interval_s = checkpoint_interval_s
        self._pending: list[_Record] = []
        self._audits = 0  # audit entries pending (most batches have none: no scan then)
        self._audit_done: asyncio.Future[None] | None = None  # shared by a batch's entries
        self._head: tuple[int, bytes] | None = None  # the chain's head as last written here
        self._scheduled = False
        self._write: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._read: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self.write_failure: str | None = None  # why the last group commit wrote nothing

    @property
    def codec(self) -> Codec:
        """How this journal stores payloads (plain, or sealed)."""
        return self._codec

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _private(self.path)
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._write = self._connect()
        self._write.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it
        migrate(self._write)
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
        else:
            self._add((sql, args, fut))
        return fut

    def _put_audit(self, entry: tuple[Any, ...]) -> asyncio.Future[None]:
        """An audit entry: every entry of one group commit shares one future (one per task
        would be made and resolved for a record that almost nobody awaits)."""
        if threading.get_ident() != self._loop_thread:
            return self._put(AUDIT_MARK, entry)
        loop = self._loop
        assert loop is not None, "the store is not open"
        done = self._audit_done
        if done is None:
            done = self._audit_done = loop.create_future()
        # _add, inlined (once per task)
        pending = self._pending
        pending.append((AUDIT_MARK, entry, done))
        self._audits += 1
        if len(pending) >= self._max_batch:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return done

    # The audit log's writes come here directly (the mixin's method is one frame more,
    # once per task)
    audit_append = _put_audit

    def _add(self, record: _Record) -> None:
        self._pending.append(record)
        if record[0] is AUDIT_MARK:
            self._audits += 1
        if len(self._pending) >= self._max_batch:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        shared, self._audit_done = self._audit_done, None
        if not batch or self._write is None:
            return
        conn = self._write
        errors: list[BaseException | None] | None = None
        # Audit entries take their place in the chain inside the transaction
        # (sqlite_security.commit_audited).
        audited, self._audits = self._audits > 0, 0
        given = batch
        try:
            if audited:
                batch, self._head = commit_audited(conn, batch, self._head,
                                                   _execute_grouped)
            else:
                conn.execute("BEGIN")
                _execute_grouped(conn, batch)
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._head = None  # read again at the next commit
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            # One bad record must not take the rest of its group commit with it: write
            # them again one by one, each in a savepoint, and fail only those that fail.
            failed: list[BaseException | None] = [exc]
            batch, failed = _one_by_one(conn, given, audited) if len(given) > 1 \
                else (batch, failed)
            errors = failed
        # Nothing written (a full disk), as opposed to one bad record: the journal's state,
        # which /health reports until a commit succeeds again.
        self.write_failure = None if errors is None or not all(errors) else str(errors[0])
        shared_error: BaseException | None = None
        for i, (_, _, fut) in enumerate(batch):
            if fut is not None and not fut.done():
                error = errors[i] if errors is not None else None
                if fut is shared:  # resolved below: failed if any of its entries failed
                    shared_error = shared_error or error
                elif error is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(self._journal_error(error))
        if shared is not None and not shared.done():
            if shared_error is None:
                shared.set_result(None)
            else:
                shared.set_exception(self._journal_error(shared_error))

    def queued(self, task: ExecutionTask, *, flushed: bool = True) -> Awaitable[None]:
        return self._put(*insert_row(task, _INSERTS, self._codec))

    def started(self, task: ExecutionTask) -> Awaitable[None]:
        return self._put(_STARTED, (task.status._value_, task.started_at, task.attempts,
                                    task.task_id))

    def retrying(self, task: ExecutionTask) -> Awaitable[None]:
        return self._put(_STARTED, (TaskStatus.RETRYING.value, task.started_at, task.attempts,
                                    task.task_id))

    def finished(self, task: ExecutionTask, result: ExecutionResult,
                 history: list[dict[str, Any]], *,
                 output_json: bytes | None = None) -> Awaitable[None]:
        return self._put(*finished_row(_ENDS, finished_values(task, result, history,
                                                              output_json, self._codec)))

    def append_event(self, kind: str, data: dict[str, Any]) -> Awaitable[None]:
        return self._put(_EVENT, (kind, time.time(), event_data(kind, data, self._codec)))

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
        return [event(r, self._codec) for r in rows]

    def artifact(self, record: ArtifactRecord) -> Awaitable[None]:
        ref = record.ref
        return self._put(_ARTIFACT, (ref.id, ref.sha256, ref.name, ref.mime, ref.size,
                                     record.task_id, record.created_at))

    @staticmethod
    def _journal_error(exc: BaseException) -> ResourceError:
        return ResourceError(f"the journal could not be written: {exc}",
                             code="journal_write_failed", retryable=True)

def _private(path: Path) -> None:
    """The journal readable by its owner alone: it holds every call's parameters (a script's
    files, base64) and results. SQLite makes its -wal and -shm files with the database
    file's mode, so the database is made 0600 before SQLite opens it; one an earlier
    version left readable by all is narrowed (with its -wal and -shm) when it is ours."""
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600))
    for p in (str(path), f"{path}-wal", f"{path}-shm"):
        with contextlib.suppress(OSError):
            st = os.stat(p, follow_symlinks=False)
            if st.st_uid == os.geteuid() and st.st_mode & 0o077 and stat.S_ISREG(st.st_mode):
                os.chmod(p, stat.S_IMODE(st.st_mode) & 0o600)


def _one_by_one(conn: sqlite3.Connection, batch: list[_Record], audited: bool = False,
                ) -> tuple[list[_Record], list[BaseException | None]]:
    """The batch as written (audit entries placed) and each record's error, if any."""
    errors: list[BaseException | None] = [None] * len(batch)
    try:
        conn.execute("BEGIN IMMEDIATE" if audited else "BEGIN")
        if audited:
            batch = place_audit(conn, batch)
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
        return batch, [exc] * len(batch)
    return batch, errors


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
