"""What only the PostgreSQL journal does: versioned migrations (empty, old, concurrent),
wait_finished over LISTEN/NOTIFY, one terminal write across nodes, nodes' own tasks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest

from skillexec.errors import ResourceError
from skillexec.storage import postgres_schema
from skillexec.storage.postgres import PostgresStore
from skillexec.storage.postgres_notify import CHANNEL, noted
from skillexec.task import TaskStatus
from tests.conftest import arun
from tests.test_store_contract import request, result, task


async def _opened(url: str, **kw: Any) -> PostgresStore:
    store = PostgresStore(url, **kw)
    await store.open()
    return store


def _versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]


def test_an_empty_database_is_migrated_once(fresh_pg: str) -> None:
    async def go() -> list[int]:
        store = await _opened(fresh_pg)
        await store.close()
        async with await psycopg.AsyncConnection.connect(fresh_pg, autocommit=True) as c:
            return await postgres_schema.migrate(c)  # again: nothing left to apply

    assert arun(go()) == []
    assert _versions(fresh_pg) == [n for n, _, _ in postgres_schema.MIGRATIONS]


def test_an_old_schema_is_brought_up_to_date_with_its_rows(fresh_pg: str) -> None:
    t = task()

    async def old_only() -> None:  # a journal of a release that had migration 1 only
        async with await psycopg.AsyncConnection.connect(fresh_pg, autocommit=True) as c:
            await postgres_schema.migrate(c, upto=1)

    arun(old_only())
    assert _versions(fresh_pg) == [1]
    with psycopg.connect(fresh_pg) as conn:
        conn.execute(
            "INSERT INTO tasks(task_id, skill_id, skill_version, status, priority, params,"
            " config, timeout_s, max_retries, idempotent, created_at) VALUES"
            " (%s, 's', '1.0.0', 'queued', 5, '{}', '{}', 1.0, 0, 1, 1.0)", (t.task_id,))

    async def reopen() -> Any:
        store = await _opened(fresh_pg)
        try:
            return await store.get_request(t.task_id)
        finally:
            await store.close()

    got = arun(reopen())
    assert got is not None and got.status is TaskStatus.QUEUED and got.request.params == {}
    assert _versions(fresh_pg) == [n for n, _, _ in postgres_schema.MIGRATIONS]
    with psycopg.connect(fresh_pg) as conn:
        options = conn.execute("SELECT reloptions FROM pg_class WHERE relname='tasks'").fetchone()
        security = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename IN"
                                " ('api_keys', 'audit')").fetchone()
    assert options is not None and "fillfactor=70" in options[0]
    assert security == (2,)  # migration 3


def test_nodes_starting_together_apply_each_migration_once(fresh_pg: str) -> None:
    async def go() -> None:
        stores = await asyncio.gather(*(_opened(fresh_pg) for _ in range(5)))
        await asyncio.gather(*(s.close() for s in stores))

    arun(go())
    assert _versions(fresh_pg) == [n for n, _, _ in postgres_schema.MIGRATIONS]


def test_an_unreachable_database_is_one_sentence_without_the_password() -> None:
    async def go() -> None:
        await PostgresStore("postgresql://me:s3cret@127.0.0.1:1/nope",
                            connect_timeout_s=2).open()

    with pytest.raises(ResourceError) as caught:
        arun(go())
    assert caught.value.code == "journal_unreachable"
    assert "s3cret" not in str(caught.value) and "me:***@127.0.0.1:1/nope" in str(caught.value)


def test_the_journal_goes_on_after_a_bad_record(pg_url: str) -> None:
    async def go() -> None:
        s = await _opened(pg_url)
        try:
            t = task()
            await s.queued(t)
            with pytest.raises(ResourceError):
                await s.queued(t)
            later = task()
            await s.queued(later)
            assert await s.get(later.task_id) is not None
        finally:
            await s.close()

    arun(go())


def test_a_start_and_end_in_one_group_commit_update_the_row_once(fresh_pg: str) -> None:
    """A short task's start and end usually meet in one group commit: the end writes what
    the start would (status, started_at, attempts), so the row is updated once. Each UPDATE
    writes a new version of the row, in place on its page while there is room: its ctid
    moves by one per update."""
    async def go() -> tuple[str, Any]:
        s = await _opened(fresh_pg)
        try:
            t = task()
            await s.queued(t)
            t.status, t.attempts, t.started_at = TaskStatus.RUNNING, 1, time.time()
            started = s.started(t)  # not awaited: the end joins the same commit
            await s.finished(t, result(t), [])
            await started
            async with await psycopg.AsyncConnection.connect(fresh_pg) as c:
                cur = await c.execute("SELECT ctid::text FROM tasks WHERE task_id = %s",
                                      (t.task_id,))
                row = await cur.fetchone()
            return str(row[0] if row else ""), await s.get(t.task_id)
        finally:
            await s.close()

    ctid, info = arun(go())
    assert ctid == "(0,2)"  # inserted as (0,1), updated once
    assert info is not None and info.status is TaskStatus.SUCCEEDED and info.attempts == 1
    assert info.started_at is not None


def test_a_record_failing_in_the_client_mid_pipeline_leaves_no_transaction_open(
        pg_url: str) -> None:
    """The group commit sends BEGIN and COMMIT itself: a record that psycopg cannot even
    send (raised after BEGIN was queued) fails alone, and the next batch is committed
    for other nodes to read, not left inside a transaction that never ends."""
    async def go() -> tuple[Any, Any]:
        a, b = await _opened(pg_url), await _opened(pg_url)
        try:
            t, later = task(), task()
            bad = a._put("INSERT INTO events(kind, at, data) VALUES (%s, %s, %s)",
                          ("e", time.time(), object()))
            fine = a.queued(t)
            with pytest.raises(ResourceError):
                await bad
            await fine
            seen = await b.get(t.task_id)  # committed when its caller is told so
            await a.queued(later)
            return seen, await b.get(later.task_id)
        finally:
            await a.close()
            await b.close()

    seen, seen_later = arun(go())
    assert seen is not None and seen_later is not None


def test_wait_finished_hears_another_node_end_the_task(pg_url: str) -> None:
    async def go() -> tuple[Any, float, Any, Any]:
        # A poll every 60 s: only the notification can answer within the test's time.
        a = await _opened(pg_url, wait_poll_s=60)
        b = await _opened(pg_url)
        try:
            t = task()
            await a.queued(t)
            waiting = asyncio.ensure_future(a.wait_finished(t.task_id, timeout_s=30))
            await asyncio.sleep(0.3)
            assert not waiting.done()
            t0 = time.monotonic()
            await b.finished(t, result(t, TaskStatus.FAILED), [])
            info = await waiting
            took = time.monotonic() - t0
            other = task()
            await a.queued(other)
            timed_out = await a.wait_finished(other.task_id, timeout_s=0.2)
            unknown = await a.wait_finished("f" * 24, timeout_s=0.2)
            return info, took, timed_out, unknown
        finally:
            await a.close()
            await b.close()

    info, took, timed_out, unknown = arun(go())
    assert info is not None and info.status is TaskStatus.FAILED and took < 2.0
    assert timed_out is not None and timed_out.status is TaskStatus.PENDING
    assert unknown is None


def test_a_waiter_woken_by_the_end_reads_nothing_more(pg_url: str) -> None:
    """The notification carries the ended row: one read (before waiting), none after; a
    result too large for a notification comes by id and is read; a task expected before it
    could end needs no read."""
    async def go() -> tuple[list[Any], list[int], list[Any]]:
        a, b = await _opened(pg_url), await _opened(pg_url)
        reads = [0]
        get = a.get

        async def counted(task_id: str) -> Any:
            reads[0] += 1
            return await get(task_id)

        a.get = counted  # type: ignore[method-assign]
        try:
            infos, counts, direct = [], [], []
            for output, flushed in (({"text": "héllo ☃", "n": 2**62}, True),
                                    ("x" * 20_000, True), ("expected", False)):
                t = task()
                await a.queued(t, flushed=flushed)
                reads[0] = 0
                waiting = asyncio.ensure_future(a.wait_finished(t.task_id, timeout_s=30))
                await asyncio.sleep(0.3)
                await b.finished(t, result(t, output=output), [])
                infos.append(await waiting)
                counts.append(reads[0])
                direct.append(await get(t.task_id))
            return infos, counts, direct
        finally:
            await a.close()
            await b.close()

    infos, counts, direct = arun(go())
    assert infos == direct and infos[0].result.output == {"text": "héllo ☃", "n": 2**62}
    assert infos[0].principal == "alice" and infos[1].result.output == "x" * 20_000
    # A submission this node waits for (``flushed=False``) was expected: no read at all.
    assert counts == [1, 2, 0]


def test_only_what_nobody_is_told_of_commits_without_a_flush(pg_url: str) -> None:
    """A submission whose caller waits for the end, an idempotent task's start: committed
    (other nodes read them at once) without waiting for the WAL flush; a submission, a
    non-idempotent start, an end: flushed. A batch with one of those is flushed whole."""
    async def go() -> tuple[list[int], Any, list[Any]]:
        a, b = await _opened(pg_url), await _opened(pg_url)
        try:
            lazy = []
            waited, told, once = task(), task(), task(request(idempotent=False))
            await a.queued(waited, flushed=False)
            lazy.append(a.unflushed_commits)
            seen = await b.get(waited.task_id)  # committed: another node reads it
            await a.queued(told)
            await a.queued(once)
            lazy.append(a.unflushed_commits)
            for t in (waited, once):
                t.status, t.attempts, t.started_at = TaskStatus.RUNNING, 1, time.time()
            a.started(waited)
            await asyncio.sleep(0.2)
            lazy.append(a.unflushed_commits)
            await a.started(once)
            await a.finished(waited, result(waited), [])
            lazy.append(a.unflushed_commits)
            await asyncio.gather(a.queued(task(), flushed=False), a.queued(task()))
            lazy.append(a.unflushed_commits)
            states = [(await b.get(t.task_id)).status for t in (waited, told, once)]
            return lazy, seen, states
        finally:
            await a.close()
            await b.close()

    lazy, seen, states = arun(go())
    assert lazy == [1, 1, 2, 2, 2]
    assert seen is not None and seen.status is TaskStatus.PENDING
    assert states == [TaskStatus.SUCCEEDED, TaskStatus.PENDING, TaskStatus.RUNNING]


@pytest.mark.parametrize("expected", [False, True])
def test_a_notification_missed_while_reconnecting_is_not_a_hang(pg_url: str,
                                                                expected: bool) -> None:
    async def go() -> Any:
        a = await _opened(pg_url, wait_poll_s=60)
        b = await _opened(pg_url)
        try:
            if expected:  # listening first, so that the next submission is expected
                await a.wait_finished("f" * 24, timeout_s=1)
            t = task()
            await a.queued(t, flushed=not expected)
            waiting = asyncio.ensure_future(a.wait_finished(t.task_id, timeout_s=30))
            await asyncio.sleep(0.3)
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as c:
                # The listener's connection dies; the end is written while it is down.
                await c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                " WHERE query LIKE %s AND pid <> pg_backend_pid()",
                                (f"LISTEN {CHANNEL}%",))
            await b.finished(t, result(t), [])
            return await asyncio.wait_for(waiting, 10)
        finally:
            await a.close()
            await b.close()

    info = arun(go())
    assert info is not None and info.status is TaskStatus.SUCCEEDED


def test_two_nodes_finishing_the_same_tasks_write_each_end_once(pg_url: str) -> None:
    n = 200

    async def go() -> tuple[dict[str, str], list[str]]:
        a, b = await _opened(pg_url), await _opened(pg_url)
        heard: list[str] = []
        listen = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
        await listen.execute(f"LISTEN {CHANNEL}")
        try:
            ts = [task() for _ in range(n)]
            await asyncio.gather(*(a.queued(t) for t in ts))
            await asyncio.gather(
                *(a.finished(t, result(t, TaskStatus.SUCCEEDED, output="a"), []) for t in ts),
                *(b.finished(t, result(t, TaskStatus.FAILED, output="b"), []) for t in ts))
            async for note in listen.notifies(timeout=2.0):
                heard.append(noted(note.payload)[0])
            ends = {i.task_id: i.result.output for i in await a.list_tasks(limit=n)
                    if i.result is not None}
            return ends, heard
        finally:
            await listen.close()
            await a.close()
            await b.close()

    ends, heard = arun(go())
    assert len(ends) == n and set(ends.values()) <= {"a", "b"}
    assert sorted(heard) == sorted(ends)  # one notification per task: the winner's


def test_a_node_resumes_only_its_own_tasks(pg_url: str) -> None:
    async def go() -> tuple[list[str], list[str], list[str]]:
        a = await _opened(pg_url, node="host:/a")
        b = await _opened(pg_url, node="host:/b")
        reader = await _opened(pg_url)
        try:
            ta, tb = task(request("x")), task(request("y"))
            await asyncio.gather(a.queued(ta), b.queued(tb))
            return ([s.request.skill_id for s in await a.unfinished()],
                    [s.request.skill_id for s in await b.unfinished()],
                    sorted(s.request.skill_id for s in await reader.unfinished()))
        finally:
            for s in (a, b, reader):
                await s.close()

    assert arun(go()) == (["x"], ["y"], ["x", "y"])


def test_the_journal_reconnects_after_the_server_drops_it(pg_url: str) -> None:
    async def go() -> tuple[int, Any]:
        s = await _opened(pg_url)
        try:
            before = task()
            await s.queued(before)
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as c:
                await c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                " WHERE datname = current_database()"
                                " AND pid <> pg_backend_pid()")
            failed = 0
            for _ in range(3):  # the batch on the dead connection fails, retryable
                t = task()
                try:
                    await s.queued(t)
                    break
                except ResourceError as exc:
                    assert exc.retryable and exc.code == "journal_write_failed"
                    failed += 1
            return failed, (await s.get(t.task_id), await s.get(before.task_id))
        finally:
            await s.close()

    failed, (now, before) = arun(go())
    assert failed <= 1 and now is not None and before is not None


def test_when_sent_is_called_with_the_commit_on_the_wire_before_its_reply(
        pg_url: str) -> None:
    """``when_sent``: the callback runs once the record's transaction was sent, before its
    reply resolves the write (an execute()'s task is published then); for a record that
    fails, maybe (if the error came back first, never), the failure being the write's
    error; a write already resolved is refused (False)."""
    async def go() -> tuple[list[str], bool, bool]:
        s = await _opened(pg_url)
        try:
            seen: list[str] = []
            t = task()
            written = s.queued(t, flushed=False)
            assert s.when_sent(written, lambda: seen.append(
                "sent" if not written.done() else "after the reply"))
            await written
            again = s.queued(t)  # the same id: this record fails
            assert s.when_sent(again, lambda: seen.append(
                "sent" if not again.done() else "after the reply"))
            with pytest.raises(ResourceError):
                await again
            done = s.queued(task())
            await done
            return seen, s.when_sent(done, lambda: seen.append("late")), \
                await s.get(t.task_id) is not None
        finally:
            await s.close()

    seen, late, stored = arun(go())
    assert seen in (["sent"], ["sent", "sent"]) and late is False and stored
