"""A small group commit as one packet: its statements handed to libpq's pipeline and
flushed once, then its replies read as they come.

psycopg's pipeline sends each statement as it is executed (a flush, one packet each, and
its Python path around it): a distributed task's submission or end, five or six statements,
cost 0.25-0.4 ms of the writer's CPU and as many wake-ups of the server's backend. Here the
same statements (prepared once per connection, as psycopg would after five runs) leave in
one write. Only for batches that need no reply before their COMMIT (at most one audit entry,
which the database places itself: ``postgres_security.lone_audit``); the others, and a batch
a statement of which fails, take psycopg's way (``PostgresStore._commit``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer

from skillexec.storage.postgres_commit import FENCED_FINISHED, LAZY, Conn, superseded_dropped
from skillexec.storage.postgres_security import lone_audit
from skillexec.storage.rows import AUDIT_MARK, Record

__all__ = ["MAX_RECORDS", "QuickCommit", "StatementFailed", "flushed", "replies"]

MAX_RECORDS = 32  # larger batches: psycopg's executemany runs cost less per record
_PLACEHOLDER = re.compile(r"%s|%%")
_DONE = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)


class StatementFailed(psycopg.Error):
    """A statement of the pipeline failed (its transaction rolled back at the sync): the
    batch is to be written the careful way."""


def _numbered(sql: str) -> bytes:
    """psycopg's ``%s`` placeholders as the protocol's ``$1``, ``$2``..."""
    n = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal n
        if m.group(0) == "%%":
            return "%"
        n += 1
        return f"${n}"
    return _PLACEHOLDER.sub(sub, sql).encode()


class QuickCommit:
    """The statements of one connection's quick commits (the writer's, one at a time)."""

    def __init__(self) -> None:
        self._conn: Conn | None = None  # the connection the names are prepared on
        self._sql: dict[str, bytes] = {}
        self._names: dict[tuple[str, tuple[int, ...]], bytes] = {}  # (sql, types) -> name
        self.slow: set[str] = set()  # statements that failed to prepare: psycopg's way
        self.commits = 0  # written in one packet (tests, the bench)

    def fits(self, batch: list[Record]) -> bool:
        return len(batch) <= MAX_RECORDS and \
            sum(1 for r in batch if r[0] is AUDIT_MARK) <= 1 and \
            not any(r[0] in self.slow for r in batch)

    async def write(self, conn: Conn, batch: list[Record], *, lazy: bool,
                    sent: Callable[[], None], fence_held: dict[str, bool]) -> list[Record]:
        """The batch in one transaction (``lazy``: without waiting for its WAL flush), as
        ``PostgresStore._commit`` writes it: the records, then the audit entry; the batch
        as written, and each fenced end's answer in ``fence_held``."""
        plain = [r for r in batch if r[0] is not AUDIT_MARK]
        audit = lone_audit(batch)
        statements = [("BEGIN", ()), *([(LAZY, ())] if lazy else []),
                      *((sql, args) for sql, args, _ in superseded_dropped(plain)),
                      *((sql, args) for sql, args, _ in audit), ("COMMIT", ())]
        answers = await self.commit(conn, statements, sent=sent)
        self.commits += 1
        for i, res in answers.items():
            fence_held[statements[i][1][0]] = res.ntuples > 0 and res.get_value(0, 0) == b"t"
        return plain + audit[1:]

    async def commit(self, conn: Conn, statements: list[tuple[str, tuple[Any, ...]]], *,
                     sent: Callable[[], None]) -> dict[int, pq.abc.PGresult]:
        """Run ``statements`` (their transaction's BEGIN and COMMIT among them) in one
        packet; ``sent`` is called once it is on the wire, before any reply. Returns the
        results of the FENCED_FINISHED statements by index. Raises ``StatementFailed``
        (nothing sent, or the transaction failed: the connection is idle or in a failed
        transaction) or psycopg's ``OperationalError`` (the connection is closed)."""
        if conn is not self._conn:  # a new connection: nothing prepared on it yet
            self._conn, self._names = conn, {}
        tx = Transformer(conn)
        out: list[tuple[bytes, Any, Any, bytes | None, bool]] = []
        prepared: list[tuple[int, tuple[str, tuple[int, ...]], bytes]] = []
        pending: dict[tuple[str, tuple[int, ...]], bytes] = {}
        try:  # every argument dumped before anything is queued
            for i, (sql, args) in enumerate(statements):
                query = self._sql.get(sql)
                if query is None:
                    query = self._sql[sql] = _numbered(sql)
                if not args:
                    out.append((query, None, None, None, False))
                    continue
                params = tx.dump_sequence(args, [PyFormat.AUTO] * len(args))
                types = tuple(tx.types or ())
                key = (sql, types)
                name = self._names.get(key) or pending.get(key)
                new = name is None
                if name is None:
                    name = pending[key] = f"skx_q{len(self._names) + len(pending)}".encode()
                    prepared.append((i, key, name))
                out.append((query, params, (types, list(tx.formats or ())), name, new))
        except Exception as exc:
            raise StatementFailed(f"a record could not be sent: {exc}") from exc
        pg = conn.pgconn
        try:
            pg.enter_pipeline_mode()
            for query, params, typed, name, new in out:
                if name is None:
                    pg.send_query_params(query, None)
                    continue
                if new:
                    pg.send_prepare(name, query, typed[0])
                pg.send_query_prepared(name, params, typed[1])
            pg.pipeline_sync()
            await flushed(pg)
            sent()
            results = await replies(pg)
            pg.exit_pipeline_mode()
        except BaseException:
            # Results never read, or a socket that failed: the connection cannot go on.
            await conn.close()
            raise
        try:
            return self._answers(statements, prepared, results, conn)
        except psycopg.OperationalError:
            await conn.close()  # the next batch connects again
            raise

    def _answers(self, statements: list[tuple[str, tuple[Any, ...]]],
                 prepared: list[tuple[int, tuple[str, tuple[int, ...]], bytes]],
                 results: list[pq.abc.PGresult], conn: Conn) -> dict[int, pq.abc.PGresult]:
        # Replies in order: a prepare's before its statement's (None: only an execute's).
        by_statement: dict[int, pq.abc.PGresult] = {}
        preparing = {i: (key, name) for i, key, name in prepared}
        k = 0
        failed: pq.abc.PGresult | None = None
        for i, (sql, _) in enumerate(statements):
            if i in preparing:
                res = results[k]
                k += 1
                if res.status == pq.ExecStatus.FATAL_ERROR:
                    self.slow.add(sql)
                    failed = failed or res
                elif res.status == pq.ExecStatus.COMMAND_OK:
                    key, name = preparing[i]
                    self._names[key] = name
            res = results[k]
            k += 1
            if res.status not in _DONE:
                failed = failed or res
            elif sql is FENCED_FINISHED:
                by_statement[i] = res
        if failed is not None:
            state = failed.error_field(pq.DiagnosticField.SQLSTATE) or b""
            if state[:2] in (b"08", b"57"):  # the connection failed, or the server ended it
                raise psycopg.OperationalError(_message(failed, conn))
            raise StatementFailed(_message(failed, conn))
        return by_statement


def _message(res: pq.abc.PGresult, conn: Conn) -> str:
    if res.status == pq.ExecStatus.PIPELINE_ABORTED:
        return "pipeline aborted"
    raw = res.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or b"statement failed"
    return raw.decode(conn.info.encoding, "replace")


async def flushed(pg: pq.abc.PGconn) -> None:
    """What libpq holds of the statements sent, written (waiting for the socket if full)."""
    loop = asyncio.get_running_loop()
    fd = pg.socket  # read once: a failed connection has none, it must still be unwatched
    while pg.flush():  # rarely: a batch larger than the socket takes at once
        writable: asyncio.Future[None] = loop.create_future()
        loop.add_writer(fd, _resolve, writable)
        try:
            await writable
        finally:
            loop.remove_writer(fd)


async def replies(pg: pq.abc.PGconn) -> list[pq.abc.PGresult]:
    """Every result up to the pipeline's sync (not included), read as they come."""
    loop = asyncio.get_running_loop()
    results: list[pq.abc.PGresult] = []
    synced: asyncio.Future[None] = loop.create_future()

    def read() -> None:
        try:
            pg.consume_input()
            while not synced.done() and not pg.is_busy():
                res = pg.get_result()
                if res is None:  # between one statement's results and the next's
                    continue
                if res.status == pq.ExecStatus.PIPELINE_SYNC:
                    synced.set_result(None)
                    return
                results.append(res)
        except Exception as exc:  # libpq's OperationalError: the connection failed
            if not synced.done():
                synced.set_exception(exc)

    fd = pg.socket
    loop.add_reader(fd, read)
    try:
        read()
        await synced
    finally:
        loop.remove_reader(fd)
    return results


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
