"""The ledger's fenced claims on the real PostgreSQL: one winner per claim, a zombie's late
terminal write loses, the reaper re-queues idempotent tasks and ends the others, and a
journal reader hears of an end written by another process (``wait_finished``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from skillexec.distributed.fenced import FencedStore
from skillexec.distributed.ledger import MIGRATIONS, Claim, Ledger
from skillexec.storage.postgres import PostgresStore
from skillexec.storage.sqlite import SQLiteStore
from skillexec.storage.store import TaskStore
from skillexec.task import ExecutionResult, ExecutionTask, Request, TaskStatus
from tests._distributed import database
from tests.conftest import arun


@pytest.fixture
def db() -> Iterator[str]:
    yield from database()


def _ledger(url: str, worker: str, lease_s: float = 30.0) -> Ledger:
    return Ledger(url, worker_id=worker, lease_s=lease_s)


def _task(task_id: str, *, idempotent: bool = True) -> ExecutionTask:
    return ExecutionTask.of(task_id, Request("s", "1", {}, {}, 5, 1.0, 0, idempotent,
                                             time.time()), status=TaskStatus.RUNNING)


def _result(task_id: str, output: object) -> ExecutionResult:
    return ExecutionResult(task_id, "s", "1", TaskStatus.SUCCEEDED, output=output, attempts=1,
                           finished_at=time.time())


def test_migrations_are_versioned_and_idempotent(db: str) -> None:
    async def go() -> None:
        a, b = _ledger(db, "a"), _ledger(db, "b")
        await asyncio.gather(a.open(), b.open())  # two nodes migrating at once
        assert await a.migrate() == len(MIGRATIONS)
        await a.close()
        await b.close()

    arun(go())


def test_of_many_concurrent_claims_exactly_one_wins(db: str) -> None:
    async def go() -> list[Claim | None]:
        nodes = [_ledger(db, f"w{i}") for i in range(6)]
        for n in nodes:
            await n.open()
        try:
            won = await asyncio.gather(*(n.claim("t1", idempotent=False, priority=5,
                                                 queue="q") for n in nodes for _ in range(3)))
            return list(won)
        finally:
            for n in nodes:
                await n.close()

    won = [c for c in arun(go()) if c is not None]
    assert won == [Claim("t1", 1)]


@pytest.mark.parametrize("journal_kind", ["sqlite", "postgres"])
def test_a_zombie_loses_its_terminal_write_to_the_new_fence_holder(
        db: str, tmp_path: Path, journal_kind: str) -> None:
    """Worker A is cut off long enough for its lease to expire; the reaper gives the
    idempotent task back, B claims and ends it; A's late end is refused, the journal keeps
    B's. With the journal in the ledger's database the fence check is folded into the
    terminal write: the ledger makes no round trip of its own for the ends."""
    async def go() -> tuple[object, int, int]:
        a, b = _ledger(db, "a", lease_s=0.2), _ledger(db, "b")
        await a.open()
        await b.open()
        journal: TaskStore = (SQLiteStore(tmp_path / "journal.db") if journal_kind == "sqlite"
                              else PostgresStore(db))
        await journal.open()
        try:
            zombie, holder = FencedStore(journal, a), FencedStore(journal, b)
            task = _task("t" * 24)
            await journal.queued(task)
            claim_a = await a.claim(task.task_id, idempotent=True, priority=5, queue="q")
            assert claim_a == Claim(task.task_id, 1)
            zombie.claims[task.task_id] = claim_a
            assert await b.claim(task.task_id, idempotent=True, priority=5, queue="q") is None
            await asyncio.sleep(0.4)  # A's lease runs out (no heartbeat)
            expired, _, _ = await b.sweep([], reconcile_after_s=60)
            assert [(e.task_id, e.idempotent) for e in expired] == [(task.task_id, True)]
            claim_b = await b.claim(task.task_id, idempotent=True, priority=5, queue="q")
            assert claim_b is not None and claim_b.fence > claim_a.fence
            holder.claims[task.task_id] = claim_b
            await zombie.finished(task, _result(task.task_id, "zombie"), [])
            info = await journal.get(task.task_id)
            assert info is not None and info.result is None  # refused: not written
            await holder.finished(task, _result(task.task_id, "holder"), [])
            info = await journal.get(task.task_id)
            assert info is not None and info.result is not None
            assert await b.state(task.task_id) == ("done", claim_b.fence)
            return info.result.output, zombie.fenced_out, a.round_trips[0] + b.round_trips[0]
        finally:
            await journal.close()
            await a.close()
            await b.close()

    output, fenced_out, ledger_trips = arun(go())
    assert (output, fenced_out) == ("holder", 1)
    # The three claims; the two ends' fence checks: two more unless folded.
    assert ledger_trips == (5 if journal_kind == "sqlite" else 3)


def test_the_reaper_ends_an_expired_non_idempotent_claim_and_nobody_reclaims_it(
        db: str) -> None:
    async def go() -> None:
        a, b = _ledger(db, "a", lease_s=0.2), _ledger(db, "b")
        await a.open()
        await b.open()
        try:
            claim = await a.claim("t2", idempotent=False, priority=5, queue="q")
            assert claim is not None
            await asyncio.sleep(0.4)
            # An expired non-idempotent claim is not for the taking, even before the reaper.
            assert await b.claim("t2", idempotent=False, priority=5, queue="q") is None
            expired, _, _ = await b.sweep([], reconcile_after_s=60)
            assert [(e.task_id, e.idempotent) for e in expired] == [("t2", False)]
            assert await b.state("t2") == ("done", claim.fence + 1)
            assert await b.claim("t2", idempotent=False, priority=5, queue="q") is None
            assert not await a.finish(claim)  # the old holder's end is refused
        finally:
            await a.close()
            await b.close()

    arun(go())


def test_a_renewed_lease_is_not_reaped(db: str) -> None:
    async def go() -> None:
        a, b = _ledger(db, "a", lease_s=0.5), _ledger(db, "b")
        await a.open()
        await b.open()
        try:
            claim = await a.claim("t3", idempotent=True, priority=5, queue="q")
            assert claim is not None
            for _ in range(4):
                await asyncio.sleep(0.25)
                await a.heartbeat(hostname="h", pid=1, queues="q", held=["t3"])
            expired, _, _ = await b.sweep([], reconcile_after_s=60)
            assert expired == []
            assert await a.finish(claim)
        finally:
            await a.close()
            await b.close()

    arun(go())


def test_a_claim_its_worker_never_heard_of_is_not_renewed_and_is_taken_back(
        db: str) -> None:
    """A claim whose answer was lost on its way back (the connection dropped) is held by
    nobody: the worker's heartbeats renew the claims it holds only, so its lease runs out
    and the reaper returns the task to the queue, rather than keeping it running (and
    never run) for as long as that worker lives."""
    async def go() -> None:
        a, b = _ledger(db, "a", lease_s=0.5), _ledger(db, "b")
        await a.open()
        await b.open()
        try:
            held = await a.claim("t4", idempotent=True, priority=5, queue="q")
            lost = await a.claim("t5", idempotent=True, priority=5, queue="q")
            assert held is not None and lost is not None
            for _ in range(4):
                await asyncio.sleep(0.25)
                await a.heartbeat(hostname="h", pid=1, queues="q", held=["t4"])
            expired, _, _ = await b.sweep([], reconcile_after_s=60)
            assert [e.task_id for e in expired] == ["t5"]
            assert await b.state("t5") == ("queued", lost.fence + 1)
            assert await a.finish(held)
        finally:
            await a.close()
            await b.close()

    arun(go())


def test_the_reconciler_publishes_a_queued_task_again_once_per_bound(db: str) -> None:
    async def go() -> None:
        a = _ledger(db, "a")
        await a.open()
        try:
            candidate = [("t4", True, 5, "q")]
            _, again, _ = await a.sweep(candidate, reconcile_after_s=0.3)
            assert again == ["t4"]
            _, again, _ = await a.sweep(candidate, reconcile_after_s=0.3)
            assert again == []  # published just now: wait for the bound
            await asyncio.sleep(0.4)
            _, again, _ = await a.sweep(candidate, reconcile_after_s=0.3)
            assert again == ["t4"]
            assert await a.claim("t4", idempotent=True, priority=5, queue="q") is not None
            _, again, _ = await a.sweep(candidate, reconcile_after_s=0.0)
            assert again == []  # claimed: not for the reconciler
        finally:
            await a.close()

    arun(go())


def test_wait_finished_hears_of_an_end_another_process_wrote(tmp_path: Path) -> None:
    async def go() -> None:
        writer, reader = SQLiteStore(tmp_path / "j.db"), SQLiteStore(tmp_path / "j.db")
        await writer.open()
        await reader.open()
        try:
            task = _task("u" * 24)
            await writer.queued(task)
            assert await reader.wait_finished(task.task_id, timeout_s=0.2) is None

            async def end_later() -> None:
                await asyncio.sleep(0.3)
                await writer.finished(task, _result(task.task_id, 42), [])

            ender = asyncio.ensure_future(end_later())
            info = await reader.wait_finished(task.task_id, timeout_s=5)
            await ender
            assert info is not None and info.result is not None and info.result.output == 42
        finally:
            await writer.close()
            await reader.close()

    arun(go())


def test_fenced_ends_ride_in_one_group_commit_with_other_records(db: str) -> None:
    """Starts and fenced ends made in one turn go in one transaction (not the one-by-one
    fallback), each end answering whether its fence was current."""
    async def go() -> tuple[list[bool], int]:
        ledger = _ledger(db, "a")
        await ledger.open()
        journal = PostgresStore(db)
        await journal.open()
        try:
            tasks = [_task(f"{n:024d}") for n in range(4)]
            await asyncio.gather(*(journal.queued(t) for t in tasks))
            claims = [await ledger.claim(t.task_id, idempotent=True, priority=5, queue="q")
                      for t in tasks]
            before = journal.commits
            stale = Claim(tasks[3].task_id, 99)  # not the current fence: refused
            fences = [*[c.fence for c in claims if c is not None][:3], stale.fence]
            starts = [journal.started(t) for t in tasks]
            ends = [journal.finished_fenced(t, _result(t.task_id, n), [], fence=f)
                    for n, (t, f) in enumerate(zip(tasks, fences, strict=True))]
            await asyncio.gather(*starts)
            held = [await e for e in ends]
            return held, journal.commits - before
        finally:
            await journal.close()
            await ledger.close()

    assert arun(go()) == ([True, True, True, False], 1)


def test_a_fenced_end_sends_its_commit_without_waiting_for_the_server(db: str) -> None:
    """A group commit holding a fenced end leaves whole (COMMIT included) before any reply:
    its ``when_sent`` callbacks run while the fenced end still waits, server-side, for a
    row lock. (executemany with ``returning`` waited for the end's rows first: a round trip
    more on every distributed task's end.)"""
    async def go() -> tuple[bool, bool, bool]:
        ledger = _ledger(db, "a")
        await ledger.open()
        journal = PostgresStore(db)
        await journal.open()
        try:
            ended, other = _task("0" * 24), _task("1" * 24)
            await journal.queued(ended)
            claim = await ledger.claim(ended.task_id, idempotent=True, priority=5, queue="q")
            assert claim is not None
            async with await psycopg.AsyncConnection.connect(db) as holder:
                await holder.execute("SELECT 1 FROM skillexec_claims WHERE task_id = %s"
                                     " FOR UPDATE", (ended.task_id,))
                sent = asyncio.Event()
                end = journal.finished_fenced(ended, _result(ended.task_id, 1), [],
                                              fence=claim.fence)
                written = journal.queued(other, flushed=False)
                assert journal.when_sent(written, sent.set)
                try:
                    await asyncio.wait_for(sent.wait(), 5.0)
                    before_reply = True
                except TimeoutError:
                    before_reply = False
                await holder.rollback()  # the lock goes: the fenced end is written
            await written
            return before_reply, await end, (await journal.get(other.task_id)) is not None
        finally:
            await journal.close()
            await ledger.close()

    assert arun(go()) == (True, True, True)
