"""Distributed mode: a message that reaches a worker before its task's row does.

An ``execute``'s task is published while its submission's commit is on the wire (the
round trip overlaps the publish), so a worker may hear of a task the journal does not hold
yet: its claim tries again for a bounded time, then drops the message (a submission that
never committed was told to nobody). Real services, real ``skillexec worker`` processes;
the reconciler is kept out of the way (``reconcile_after_s`` 60) so that only the worker's
own retries can run such a task within the test's time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from skillexec.distributed.transport import Transport
from skillexec.task import ExecutionTask
from tests._distributed import REDIS, Cluster
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(params=["sqlite-journal", "pg-journal"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    # pg-journal: the claim reads the request in the same statement
    yield from cluster_of(tmp_path, monkeypatch, REDIS,
                          pg_journal=request.param == "pg-journal", lease_s="2",
                          heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="60")


def _engine(c: Cluster) -> SkillExecutionEngine:
    return SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data)


def test_a_message_ahead_of_its_rows_commit_waits_for_it_and_runs_once(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """The submission's commit lands 0.5 s after it was sent and its message published
    (``when_sent``; the SQLite journal has none, given here as PostgreSQL's): the worker's
    claim finds no row, tries again, and runs the task once when the row is there; the
    waiting caller gets its result. (A worker that refused the message at once would leave
    the task to the reconciler, a minute away.)"""
    cluster.start_worker(2)

    async def go() -> list[Any]:
        async with _engine(cluster) as engine:
            assert engine._remote is not None
            store = engine._remote.journal
            real = store.queued
            landings: list[asyncio.Future[None]] = []

            def late(task: ExecutionTask, *, flushed: bool = True) -> Awaitable[None]:
                written = asyncio.get_running_loop().create_future()

                async def landing() -> None:  # the commit is slow to land
                    await asyncio.sleep(0.5)
                    await real(task, flushed=flushed)
                    written.set_result(None)
                landings.append(asyncio.ensure_future(landing()))
                return written

            def when_sent(written: Awaitable[None], callback: Callable[[], None]) -> bool:
                callback()  # on the wire now: the message leaves ahead of the row
                return True

            monkeypatch.setattr(store, "queued", late)
            monkeypatch.setattr(store, "when_sent", when_sent, raising=False)
            results = [await asyncio.wait_for(engine.execute(sid, {"n": n}), 30)
                       for n, sid in enumerate(("once", "again"))]
            return [(r.status, r.output) for r in results]

    assert arun(go()) == [(TaskStatus.SUCCEEDED, {"n": 0}), (TaskStatus.SUCCEEDED, {"n": 1})], \
        cluster.logs()
    counts = cluster.run_counts()
    assert len(counts) == 2 and set(counts.values()) == {1}, counts


def test_a_message_for_a_task_never_journaled_runs_nothing_and_is_dropped(
        cluster: Cluster) -> None:
    """Its submitter died before the commit (or the commit failed): the worker tries for
    a bounded time, runs nothing, drops the message, and goes on serving others."""
    cluster.start_worker(2)

    async def go() -> tuple[str, Any]:
        async with _engine(cluster) as engine:
            ghost = uuid.uuid4().hex
            transport = Transport(cluster.env["SKILLEXEC_BROKER_URL"], cluster.queue)
            transport.publish(ghost, priority=5)
            await asyncio.sleep(0.2)
            result = await engine.execute("once", {"n": 1})  # served meanwhile
            await asyncio.sleep(5.0)  # past the retries' bound (3.9 s)
            transport.close()
            return ghost, (result.status, await engine.journal.get(ghost))

    ghost, (status, row) = arun(go())
    assert status is TaskStatus.SUCCEEDED and row is None
    assert ghost not in cluster.run_counts() and len(cluster.run_counts()) == 1
    assert f"task {ghost}: not in the journal" in cluster.logs()
