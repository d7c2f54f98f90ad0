"""The PostgreSQL journal's small group commits, sent as one packet (``postgres_quick``):
written as psycopg's pipeline writes them (records, the audit entry placed by the
database, the fenced ends' answers), and a batch a record of which fails at the server
written again the careful way, failing only that record."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from typing import Any

from skillexec.errors import ResourceError
from skillexec.security.audit_chain import AuditEntry
from skillexec.storage.postgres import PostgresStore
from tests.conftest import arun
from tests.test_store_contract import task


async def _opened(url: str) -> PostgresStore:
    store = PostgresStore(url)
    await store.open()
    return store


def _entry(n: int) -> AuditEntry:
    return AuditEntry(int(time.time() * 1e6), "p", "task.submitted", f"t{n}", "ok", {"n": n})


def test_a_submission_and_its_audit_entry_commit_in_one_packet(pg_url: str) -> None:
    """One turn's records (a task, its audit entry) in one packet: another node reads
    them, and each audit row follows the one before it."""
    async def go() -> tuple[int, Any, list[Any], str]:
        a, b = await _opened(pg_url), await _opened(pg_url)
        try:
            before = a.quick.commits
            for n in range(3):
                t = task()
                await asyncio.gather(a.queued(t), a.audit_append(_entry(n)))
            seen = await b.get(t.task_id)
            return a.quick.commits - before, seen, await b.audit_rows(), t.task_id
        finally:
            await a.close()
            await b.close()

    quick, seen, rows, t_id = arun(go())
    assert quick == 3 and seen is not None and seen.task_id == t_id
    assert [r.seq for r in rows] == [0, 1, 2]
    for prev, row in itertools.pairwise(rows):
        assert prev.digest.hex().encode() in row.body  # chained
        assert hashlib.sha256(row.body).digest() == row.digest


def test_a_record_failing_at_the_server_fails_alone_and_the_next_batch_is_quick(
        pg_url: str) -> None:
    """A task journaled twice (its key taken) with another task in the same turn: the
    one-packet transaction fails at the server, the batch is written again the careful
    way (only the duplicate fails), and the next batch goes in one packet again."""
    async def go() -> tuple[bool, Any, int]:
        a = await _opened(pg_url)
        try:
            t, other, later = task(), task(), task()
            await a.queued(t)
            twice, fine = a.queued(t), a.queued(other)
            try:
                await twice
                failed = False
            except ResourceError:
                failed = True
            await fine
            before = a.quick.commits
            await a.queued(later)
            return failed, await a.get(other.task_id), a.quick.commits - before
        finally:
            await a.close()

    failed, other, quick = arun(go())
    assert failed and other is not None and quick == 1
