"""The shared journal: PostgreSQL through psycopg 3, written with group commit.

Writes are queued and resolved once the transaction holding them has committed, as in the
SQLite journal. One writer coroutine owns one connection: while a commit is in flight, the
records made meanwhile gather, and the next transaction takes them all (up to ``max_batch``),
sent in one pipeline (one round trip). One connection keeps each task's writes in order.
A commit costs an fsync on the server (``synchronous_commit`` on): batching is what lifts
the journal above one fsync per step (research/distributed.md §3.6). Reads go through a
pool. The terminal write wins once across every node sharing the database, and NOTIFYs
``skillexec_finished`` in its transaction (``wait_finished``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from skillexec.errors import ResourceError
from skillexec.storage import postgres_schema
from skillexec.storage.codec import PLAIN, Codec
from skillexec.storage.postgres_commit import (
    FENCED_FINISHED,
    FINISHED,
    LAZY,
    STARTED,
    Conn,
    execute_runs,
    fence_answers,
    one_by_one,
    rolled_back,
    superseded_dropped,
)
from skillexec.storage.postgres_notify import FinishedListener
from skillexec.storage.postgres_purge import PostgresPurgeMixin
from skillexec.storage.postgres_queries import PUBLISHED, PostgresQueriesMixin
from skillexec.storage.postgres_quick import QuickCommit, StatementFailed
from skillexec.storage.postgres_security import PostgresSecurityMixin, place_audit
from skillexec.storage.rows import (
    AUDIT_MARK,
    Record,
    cache_value,
    event_data,
    finished_values,
    info,
    pg,
)
from skillexec.storage.sqlite_request import INSERT_TASK, insert_values
from skillexec.storage.store import ArtifactRecord, CacheRecord
from skillexec.storage.url import redacted
from skillexec.task import ExecutionResult, ExecutionTask, TaskInfo, TaskStatus

__all__ = ["PostgresStore"]

log = logging.getLogger("skillexec.storage")

# With the node that accepted the task: the one that resumes it when it restarts.
_INSERT = pg(INSERT_TASK.replace("INSERT INTO tasks(", "INSERT INTO tasks(node, ", 1)
             .replace(" VALUES (", " VALUES (?,", 1))
_ARTIFACT = pg(
    "INSERT INTO artifacts(id, sha256, name, mime, size, task_id, created_at)"
    " VALUES (?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET sha256=excluded.sha256,"
    " name=excluded.name, mime=excluded.mime, size=excluded.size, task_id=excluded.task_id,"
    " created_at=excluded.created_at"
)
_EVENT = pg("INSERT INTO events(kind, at, data) VALUES (?,?,?)")
_CACHE_PUT = pg(
    "INSERT INTO cache(key, skill_id, version, value, expires_at, created_at)"
    " VALUES (?,?,?,?,?,?) ON CONFLICT (key) DO UPDATE SET skill_id=excluded.skill_id,"
    " version=excluded.version, value=excluded.value, expires_at=excluded.expires_at,"
    " created_at=excluded.created_at"
)
_CACHE_DROP_ALL = pg("DELETE FROM cache WHERE skill_id=?")
_CACHE_DROP = pg("DELETE FROM cache WHERE skill_id=? AND version != ?")


class PostgresStore(PostgresQueriesMixin, PostgresSecurityMixin, PostgresPurgeMixin):
    """The TaskStore of engines that share one journal."""

    def __init__(self, url: str, *, node: str | None = None, max_batch: int = 2000,
                 pool_size: int = 4, connect_timeout_s: float = 10.0,
                 wait_poll_s: float = 5.0, codec: Codec = PLAIN) -> None:
        """``node``: who this is (host and data directory); ``unfinished()`` is then this
        node's tasks only, so that an engine starting never resumes a task another live
        node runs (None: every node's, for readers such as the CLI). ``codec`` seals the
        payloads, as the SQLite journal's does (``rows``)."""
        self.url = url
        self.node = node
        # Who the rows this store inserts belong to: this node (an engine running them
        # itself), or a broker queue's workers (``publishes_to``).
        self.accepted_by = node
        self._codec = codec
        self._max_batch = max_batch
        self._pool_size = pool_size
        self._connect_timeout_s = connect_timeout_s
        self._wait_poll_s = wait_poll_s
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._conn: Conn | None = None  # the writer's
        self._pending: list[Record] = []
        self._wake = asyncio.Event()
        self._closing = False
        self.write_failure: str | None = None  # why the last group commit wrote nothing
        self._writer: asyncio.Task[None] | None = None
        self._listener: FinishedListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        # Records whose callers need them committed (read by other nodes), not flushed:
        # ``_put(flushed=False)``.
        self._unflushed: set[asyncio.Future[None]] = set()
        # Called once a record's transaction is on the wire, before its reply (when_sent).
        self._on_sent: dict[asyncio.Future[None], Callable[[], None]] = {}
        self.quick = QuickCommit()  # small group commits in one packet
        self.fence_held: dict[str, bool] = {}  # task id -> its fenced end was the holder's
        self.commits = 0  # transactions written, and the records they held (the bench's
        self.records = 0  # mean batch size)
        self.unflushed_commits = 0  # of them, those that did not wait for the WAL flush

    @property
    def codec(self) -> Codec:
        """How this journal stores payloads (plain, or sealed)."""
        return self._codec

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._closing = False
        self._conn = await self._connect()
        try:
            await postgres_schema.migrate(self._conn)
        except BaseException:
            await self._conn.close()
            self._conn = None
            raise
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self.url, min_size=1, max_size=self._pool_size, open=False,
            kwargs={"autocommit": True}, timeout=self._connect_timeout_s,
            # A connection is checked as it is handed out: after a server restart a read
            # gets a new one rather than the error of a dead one.
            check=AsyncConnectionPool.check_connection)
        await pool.open(wait=True, timeout=self._connect_timeout_s)
        self._pool = pool
        self._listener = FinishedListener(self.url, poll_s=self._wait_poll_s,
                                          connect_timeout_s=self._connect_timeout_s,
                                          decode=lambda row: info(row, self._codec))
        self._writer = self._loop.create_task(self._write_loop(), name="skillexec-journal-write")

    async def close(self) -> None:
        if self._writer is not None:
            self._closing = True
            self._wake.set()
            await self._writer
            self._writer = None
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _connect(self) -> Conn:
        try:
            return await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=max(1, int(self._connect_timeout_s)))
        except psycopg.Error as exc:
            raise ResourceError(f"cannot reach the journal database {redacted(self.url)}: "
                                f"{' '.join(str(exc).split())}", code="journal_unreachable",
                                retryable=True) from None

    # -- writes ----------------------------------------------------------------------------

    def _put(self, sql: str, args: tuple[Any, ...], *,
             flushed: bool = True) -> asyncio.Future[None]:
        """Queue a record for the next group commit; resolved once committed. ``flushed``
        False: its caller need not know it is durable, so it may ride a transaction that
        does not wait for the WAL flush (``_commit``)."""
        loop = self._loop
        assert loop is not None, "the store is not open"
        fut = loop.create_future()
        if threading.get_ident() != self._loop_thread:
            # A sync skill saving an artifact from its worker thread.
            loop.call_soon_threadsafe(self._add, (sql, args, None))
            fut.set_result(None)
        elif self._closing or self._writer is None:
            fut.set_exception(ResourceError("the journal is closed",
                                            code="journal_write_failed"))
        else:
            self._add((sql, args, fut))
            if not flushed:
                self._unflushed.add(fut)
        return fut

    def _add(self, record: Record) -> None:
        self._pending.append(record)
        self._wake.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[:self._max_batch]
                del self._pending[:len(batch)]
                batch, errors = await self._commit(batch)
                self.write_failure = None if errors is None or not all(errors) \
                    else " ".join(str(errors[0]).split())
                for i, (_, _, fut) in enumerate(batch):
                    if fut is None:
                        continue
                    self._unflushed.discard(fut)
                    if fut in self._on_sent and (errors is None or errors[i] is None):
                        self._announce(fut)  # written, by the one-by-one retry
                    self._on_sent.pop(fut, None)
                    if fut.done():
                        continue
                    error = errors[i] if errors is not None else None
                    if error is None:
                        fut.set_result(None)
                    else:
                        fut.set_exception(ResourceError(
                            f"the journal could not be written: {' '.join(str(error).split())}",
                            code="journal_write_failed", retryable=True))
            if self._closing:
                return

    async def _commit(self, batch: list[Record],
                      ) -> tuple[list[Record], list[BaseException | None] | None]:
        """Write the batch in one transaction; return it as written (its audit entries
        placed in the chain) and each record's error (None: all written). A connection
        the server closed while it idled (idle_session_timeout, pg_terminate_backend, a
        failover: the server says so and closes it, so the socket reads) is replaced
        before the batch is sent. One that dies while the batch is in flight may have
        committed with only its reply lost: a batch holding a task's insert asks the
        server whether that row is there, and is sent again only if it is not (a second
        copy would insert the task twice and write its events twice); one without is not
        sent again (the worker writes a failed end again itself: ends are guarded)."""
        conn = self._conn
        if conn is not None and not self._lost() and _spoke_while_idle(conn):
            log.warning("the journal's connection was closed by the server; connecting again")
            with contextlib.suppress(Exception):
                await conn.close()
            self._conn = None
        live = self._conn is not None and not self._lost()
        placed, errors = await self._commit_once(batch)
        inserted = next((r[1][1] for r in batch if r[0] is _INSERT), None)
        if errors is None or not live or not self._lost() or inserted is None:
            return placed, errors
        log.warning("the journal's connection was lost in a commit (%s); asking whether it "
                    "landed", " ".join(str(errors[0]).split()))
        try:
            if await self._task_row_there(inserted):
                return placed, None  # it committed: only its answer was lost
        except (psycopg.Error, ResourceError):
            return placed, errors  # the database is down: the batch fails
        return await self._commit_once(batch)

    async def _task_row_there(self, task_id: str) -> bool:
        """Whether the journal holds ``task_id``'s row, asked on a new connection."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        self._conn = await self._connect()
        cur = await self._conn.execute("SELECT 1 FROM tasks WHERE task_id = %s", (task_id,))
        return await cur.fetchone() is not None

    def _lost(self) -> bool:
        return self._conn is None or self._conn.closed or self._conn.broken

    async def _commit_once(self, batch: list[Record],
                           ) -> tuple[list[Record], list[BaseException | None] | None]:
        placed = batch
        try:
            if self._conn is None or self._conn.closed or self._conn.broken:
                if self._conn is not None:  # broken: its socket closed as well
                    await self._conn.close()
                self._conn = await self._connect()
            conn = self._conn
            # Nobody is told these are durable (an idempotent task's start, a submission
            # whose caller waits for its end, a worker thread's artifact): no fsync of
            # their own. The WAL is one sequence, so the task's durable end, written
            # after, makes them durable too.
            lazy = all(r[2] is None or r[2] in self._unflushed for r in batch)
            self.unflushed_commits += lazy
            if self.quick.fits(batch):  # one packet (postgres_quick)
                try:
                    placed = await self.quick.write(conn, batch, lazy=lazy,
                                                     sent=lambda: self._sent(conn, batch),
                                                     fence_held=self.fence_held)
                    self.commits += 1
                    self.records += len(batch)
                    return placed, None
                except StatementFailed:
                    await rolled_back(conn)  # psycopg's way now, failing only what fails
            try:
                # BEGIN, the records and COMMIT leave in one round trip (two with several
                # audit entries: the chain's head is read first; a lone one, a task's end's,
                # the database places itself). Not psycopg's transaction():
                # in a pipeline it syncs at its start and at its end (four round trips).
                async with conn.pipeline():
                    await conn.execute("BEGIN")
                    if lazy:
                        await conn.execute(LAZY)
                    # The other records first: the audit chain's lock (every node's writer
                    # takes it) is then held only for the chain's tail and the commit, not
                    # for the whole batch, so that nodes' group commits overlap.
                    plain = [r for r in batch if r[0] is not AUDIT_MARK]
                    fenced = await execute_runs(conn.cursor(), superseded_dropped(plain))
                    placed = await place_audit(conn, batch, in_one_trip=True)
                    if len(placed) > len(plain):  # the chain's entries, after the rest
                        fenced += await execute_runs(conn.cursor(), placed[len(plain):])
                    await conn.execute("COMMIT")
                    self._sent(conn, batch)
            except Exception:
                await rolled_back(conn)  # never let the next batch's COMMIT end this one
                raise
            await fence_answers(fenced, self.fence_held)
            self.commits += 1
            self.records += len(batch)
            return placed, None
        except (psycopg.Error, ResourceError) as exc:
            if self._conn is None or self._lost() or len(batch) == 1:
                # The database itself is gone: every record fails (``_commit`` reconnects).
                return placed, [exc] * len(batch)
            # One bad record must not take the rest of its group commit with it: write them
            # again one by one, each in a savepoint, and fail only those that fail.
            return await one_by_one(self._conn, batch, self.fence_held)
        except Exception as exc:  # whatever it is, the batch's callers must not wait forever
            return placed, [exc] * len(batch)

    def when_sent(self, written: Awaitable[None], callback: Callable[[], None]) -> bool:
        """Call ``callback`` once the transaction of the record ``written`` (what a write
        method returned, not yet resolved) is on the wire, before its reply (``written``
        says whether it committed; of a failing one, maybe never); True if so. (An
        ``execute``'s task is published then: the commit lands at the server while the
        message travels, RemoteEnqueue.enqueue.)"""
        if not isinstance(written, asyncio.Future) or written.done() or \
                written in self._on_sent:
            return False
        self._on_sent[written] = callback
        return True

    def _sent(self, conn: Conn, batch: list[Record]) -> None:
        """The batch's statements, COMMIT included, pushed out now (the pipeline would
        flush them only as it waits for the replies), then their ``when_sent`` callbacks."""
        if not self._on_sent:
            return
        conn.pgconn.flush()  # non-blocking: what the socket does not take, the sync sends
        for _, _, fut in batch:
            if fut is not None:
                self._announce(fut)

    def _announce(self, fut: asyncio.Future[None]) -> None:
        sent = self._on_sent.pop(fut, None)
        if sent is not None:
            try:
                sent()
            except Exception:  # a callback's failure is its own, not the commit's
                log.exception("a when_sent callback failed")

    def queued(self, task: ExecutionTask, *, flushed: bool = True) -> Awaitable[None]:
        if not flushed and self._listener is not None:  # its caller waits for its end here
            self._listener.expect(task.task_id)
        return self._put(_INSERT, (self.accepted_by, *insert_values(task, self._codec)),
                         flushed=flushed)

    def publishes_to(self, queue: str) -> None:
        """Distributed mode: the tasks this store journals from now on are published to the
        broker queue ``queue``, so they are no node's to resume but that queue's workers'
        to reconcile (``reconcilable``), whichever node submitted them."""
        self.accepted_by = PUBLISHED + queue

    def started(self, task: ExecutionTask) -> Awaitable[None]:
        # Only a non-idempotent task's start must be durable (at most once: before it runs);
        # an idempotent one is run again after a crash whatever its row says.
        return self._put(STARTED, (task.status._value_, task.started_at, task.attempts,
                                    task.task_id), flushed=not task.request.idempotent)

    def retrying(self, task: ExecutionTask) -> Awaitable[None]:
        return self._put(STARTED, (TaskStatus.RETRYING.value, task.started_at, task.attempts,
                                    task.task_id), flushed=not task.request.idempotent)

    def finished(self, task: ExecutionTask, result: ExecutionResult,
                 history: list[dict[str, Any]], *,
                 output_json: bytes | None = None) -> Awaitable[None]:
        return self._put(FINISHED, finished_values(task, result, history, output_json,
                                                    self._codec))

    def finished_fenced(self, task: ExecutionTask, result: ExecutionResult,
                        history: list[dict[str, Any]], *, fence: int,
                        output_json: bytes | None = None) -> Awaitable[bool]:
        """The end of a task claimed under ``fence`` in the ledger's ``skillexec_claims`` of
        this database: written (and the claim ``done``) only if the fence is current; True
        then. Group-committed with the journal's other records (queued now, as ``finished``
        is)."""
        values = finished_values(task, result, history, output_json, self._codec)
        return self._fence_answer(task.task_id, self._put(FENCED_FINISHED,
                                                          (task.task_id, fence, *values)))

    async def _fence_answer(self, task_id: str, written: Awaitable[None]) -> bool:
        try:
            await written
        finally:
            held = self.fence_held.pop(task_id, False)
        return held

    def artifact(self, record: ArtifactRecord) -> Awaitable[None]:
        ref = record.ref
        return self._put(_ARTIFACT, (ref.id, ref.sha256, ref.name, ref.mime, ref.size,
                                     record.task_id, record.created_at))

    def append_event(self, kind: str, data: dict[str, Any]) -> Awaitable[None]:
        return self._put(_EVENT, (kind, time.time(), event_data(kind, data, self._codec)))

    def cache_put(self, record: CacheRecord) -> Awaitable[None]:
        return self._put(_CACHE_PUT, (record.key, record.skill_id, record.version,
                                      cache_value(record, self._codec), record.expires_at,
                                      time.time()))

    def cache_invalidate(self, skill_id: str, keep_version: str | None) -> Awaitable[None]:
        if keep_version is None:
            return self._put(_CACHE_DROP_ALL, (skill_id,))
        return self._put(_CACHE_DROP, (skill_id, keep_version))

    # -- waiting for an end, from any node -------------------------------------------------

    async def wait_finished(self, task_id: str, *, timeout_s: float | None) -> TaskInfo | None:
        """The task's info once it is terminal (whichever node ended it); at ``timeout_s``
        its info then, maybe unfinished; None when the journal has no such task."""
        assert self._listener is not None, "the store is not open"
        return await self._listener.wait(task_id, timeout_s=timeout_s, read=self.get)


def _spoke_while_idle(conn: Conn) -> bool:
    """Whether the server wrote to an idle connection: between transactions it says
    nothing unless it is closing it (a FATAL message, then EOF); a poll, no read."""
    try:
        fd = conn.pgconn.socket
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError, psycopg.Error):
        return True  # no socket left: it is gone
