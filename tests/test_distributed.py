"""Distributed mode end to end: a submitting engine, ``skillexec worker`` processes, the
real Redis/RabbitMQ and PostgreSQL. The broker is only a doorbell: lost and repeated
messages, killed workers and cancellations are settled by the fenced claims."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from skillexec.distributed.transport import Transport
from skillexec.pipeline.recovery import task_from_stored
from tests._distributed import (
    AMQP,
    REDIS,
    Cluster,
    lose_messages,
    wait_until,
)
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(params=["redis", "amqp", "redis+pg-journal"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, AMQP if request.param == "amqp" else REDIS,
                        pg_journal=request.param.endswith("pg-journal"), lease_s="2",
                        heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="1.5")


@pytest.fixture(params=["sqlite-journal", "pg-journal"])
def redis_cluster(request: pytest.FixtureRequest, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=request.param == "pg-journal",
                        lease_s="2", heartbeat_s="0.5",
                        sweep_interval_s="0.5", reconcile_after_s="1.5")


def _engine(c: Cluster) -> SkillExecutionEngine:
    return SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data)


def test_many_tasks_over_two_workers_each_runs_once(cluster: Cluster) -> None:
    cluster.start_worker(2)
    cluster.start_worker(2)
    cluster.wait_consuming()  # else the first worker up may run all 120 before the other

    async def go() -> list[TaskStatus]:
        async with _engine(cluster) as engine:
            ids = [await engine.submit("once" if n % 2 else "again", {"n": n,
                                                                     "seconds": 0.01})
                   for n in range(120)]
            results = [await engine.wait(t, timeout=90) for t in ids]
            assert [r.output for r in results] == [{"n": n} for n in range(120)]
            return [r.status for r in results]

    assert set(arun(go())) == {TaskStatus.SUCCEEDED}, cluster.logs()
    counts = cluster.run_counts()
    assert len(counts) == 120 and set(counts.values()) == {1}
    assert len(cluster.run_pids()) == 2, "both workers should have run tasks"


def test_one_message_rings_for_the_tasks_of_a_loop_turn_each_runs_once(
        cluster: Cluster) -> None:
    """Submissions answered by one group commit leave as one message carrying their ids;
    the worker claims and runs each once, a repeated id or an ended one in such a message
    included."""
    cluster.start_worker(2)

    async def go() -> tuple[int, list[str]]:
        async with _engine(cluster) as engine:
            publisher = engine._remote.publisher if engine._remote else None
            assert isinstance(publisher, Transport)
            assert publisher.ids_per_message == 64  # the default
            before = publisher.messages
            ids = list(await asyncio.gather(*(engine.submit("again", {"n": n, "seconds": 0})
                                              for n in range(40))))
            await asyncio.sleep(0)  # the end of the turn: the doorbell rings
            messages = publisher.messages - before
            for t in ids:
                assert (await engine.wait(t, timeout=60)).status is TaskStatus.SUCCEEDED
            late = await engine.submit("once", {"n": 99, "seconds": 0.2})
            publisher.publish(late, priority=5)  # the same id again, and an ended one
            publisher.publish(ids[0], priority=5)
            assert (await engine.wait(late, timeout=60)).status is TaskStatus.SUCCEEDED
            await asyncio.sleep(1.0)  # time for the duplicates to arrive and be refused
            return messages, [*ids, late]

    messages, ids = arun(go())
    # 40 ids, 64 a message: one message (more if the group commit split them)
    assert messages <= 3, messages
    counts = cluster.run_counts()
    assert [counts[t] for t in ids] == [1] * len(ids), cluster.logs()


def test_a_message_of_long_tasks_is_shared_with_a_worker_that_has_room(
        cluster: Cluster) -> None:
    """One message rings for 8 one-second tasks; a worker claims what it has room for (2
    slots, and one more per busy Celery thread) and hands the rest back, so the other worker
    runs its share instead of idling while they queue on the first. Each runs once."""
    cluster.start_worker(2)
    cluster.start_worker(2)
    cluster.wait_consuming()  # registered in the ledger is not consuming yet

    async def go() -> list[str]:
        async with _engine(cluster) as engine:
            ids = list(await asyncio.gather(*(engine.submit("again", {"n": n, "seconds": 1})
                                              for n in range(8))))
            for t in ids:
                assert (await engine.wait(t, timeout=60)).status is TaskStatus.SUCCEEDED
            return ids

    ids = arun(go())
    counts = cluster.run_counts()
    assert [counts[t] for t in ids] == [1] * 8, cluster.logs()
    per_worker = Counter(line.split()[1] for line in cluster.runs.read_text().splitlines())
    assert len(per_worker) == 2 and max(per_worker.values()) <= 5, per_worker


def test_execute_is_answered_at_its_durable_end_and_runs_once(cluster: Cluster) -> None:
    """``execute`` (a caller waiting for the end) commits its submission without waiting
    for the flush, ``submit`` (a caller told at once) with it; each task runs once and the
    waiter gets its result (from the end's notification, in a PostgreSQL journal)."""
    cluster.start_worker(2)

    async def go() -> tuple[list[Any], int | None, int | None]:
        async with _engine(cluster) as engine:
            store = engine.journal
            results = [await engine.execute("again" if n % 2 else "once", {"n": n})
                       for n in range(6)]
            lazy = getattr(store, "unflushed_commits", None)
            task_id = await engine.submit("again", {"n": 6})
            await asyncio.sleep(0.3)  # its commit, before the end's
            lazy_after_submit = getattr(store, "unflushed_commits", None)
            results.append(await engine.wait(task_id, timeout=60))
            return [r.output for r in results], lazy, lazy_after_submit

    outputs, lazy, lazy_after_submit = arun(go())
    assert outputs == [{"n": n} for n in range(7)], cluster.logs()
    assert set(cluster.run_counts().values()) == {1}
    if "SKILLEXEC_JOURNAL__URL" in cluster.env:  # the client's journal is PostgreSQL
        # (the first may share its commit with the engine's own audit record, flushed)
        assert lazy is not None and lazy >= 4 and lazy_after_submit == lazy


def test_a_message_delivered_twice_runs_once(cluster: Cluster) -> None:
    cluster.start_worker(2)

    async def go() -> str:
        async with _engine(cluster) as engine:
            task_id = await engine.submit("once", {"n": 1, "seconds": 0.3})
            transport = Transport(cluster.env["SKILLEXEC_BROKER_URL"], cluster.queue)
            for _ in range(3):  # the broker repeats it (redelivery, a duplicate publish)
                transport.publish(task_id, priority=5)
            result = await engine.wait(task_id, timeout=60)
            assert result.status is TaskStatus.SUCCEEDED
            await asyncio.sleep(1.5)  # time for the duplicates to arrive and be refused
            for _ in range(2):  # and after its end
                transport.publish(task_id, priority=5)
            await asyncio.sleep(1.0)
            transport.close()
            return task_id

    task_id = arun(go())
    assert cluster.run_counts()[task_id] == 1, cluster.logs()


def test_submitted_while_no_worker_runs_it_runs_when_one_starts(redis_cluster: Cluster
                                                               ) -> None:
    c = redis_cluster

    async def go() -> None:
        async with _engine(c) as engine:
            ids = [await engine.submit("again", {"n": n}) for n in range(5)]
            await asyncio.sleep(0.5)
            assert {(await engine.status(t)).status for t in ids} == {TaskStatus.QUEUED}
            c.start_worker(1)
            for t in ids:
                assert (await engine.wait(t, timeout=60)).status is TaskStatus.SUCCEEDED

    arun(go())


def test_a_lost_message_is_published_again_and_runs(redis_cluster: Cluster) -> None:
    """Journaled, but its message lost (a Redis restart without persistence empties the
    queue's lists): the reconciler publishes it again once it has waited
    reconcile_after_s. (tests/test_distributed_reconcile_other_node.py: submitted on
    another node.)"""
    c = redis_cluster

    async def go() -> None:
        async with _engine(c) as engine:
            task_id = await engine.submit("once", {"n": 7})
            await asyncio.sleep(0.3)  # published at the end of the loop's turn
            assert lose_messages(c.queue) >= 1
            c.start_worker(1)
            result = await engine.wait(task_id, timeout=60)
            assert result.status is TaskStatus.SUCCEEDED and result.output == {"n": 7}

    arun(go())
    assert set(c.run_counts().values()) == {1}


def test_kill_9_of_a_worker_mid_run_loses_nothing_and_never_runs_twice(
        redis_cluster: Cluster) -> None:
    c = redis_cluster
    victim = c.start_worker(3)

    async def go() -> dict[str, tuple[str, TaskStatus, str | None]]:
        async with _engine(c) as engine:
            skill_of = {}
            for n in range(3):
                skill_of[await engine.submit("again", {"n": n, "seconds": 2})] = "again"
                skill_of[await engine.submit("once", {"n": n, "seconds": 2})] = "once"
            await asyncio.to_thread(wait_until, lambda: len(c.run_counts()) >= 3, 30,
                                    "three tasks running on the victim")
            os.kill(victim.pid, signal.SIGKILL)
            c.start_worker(3)
            out = {}
            for t, skill in skill_of.items():
                r = await engine.wait(t, timeout=120)
                out[t] = (skill, r.status, r.error.code if r.error else None)
            return out

    ends = arun(go())
    counts = c.run_counts()
    victim_ran = {line.split()[0] for line in c.runs.read_text().splitlines()
                  if line.split()[1] == str(victim.pid)}
    assert victim_ran, c.logs()
    for task_id, (skill, status, code) in ends.items():
        if skill == "again":  # idempotent: run again elsewhere, succeeded
            assert status is TaskStatus.SUCCEEDED, (task_id, status, code, c.logs())
        elif task_id in victim_ran:  # non-idempotent, was running on the victim
            assert (status, code) == (TaskStatus.FAILED, "interrupted"), c.logs()
            assert counts[task_id] == 1
        else:
            assert status is TaskStatus.SUCCEEDED and counts[task_id] == 1


def test_cancel_reaches_a_task_running_on_a_worker(redis_cluster: Cluster) -> None:
    c = redis_cluster
    c.start_worker(1)

    async def go() -> None:
        async with _engine(c) as engine:
            task_id = await engine.submit("once", {"n": 1, "seconds": 60})
            await asyncio.to_thread(wait_until, lambda: task_id in c.run_counts(), 30,
                                    "the task running")
            started = time.monotonic()
            assert await engine.cancel(task_id)
            result = await engine.wait(task_id, timeout=30)
            assert result.status is TaskStatus.CANCELLED
            assert time.monotonic() - started < 10

    arun(go())


def test_priorities_hold_across_the_broker(redis_cluster: Cluster) -> None:
    c = redis_cluster

    async def go() -> tuple[list[str], list[str]]:
        async with _engine(c) as engine:
            low = [await engine.submit("again", {"n": n}, priority=1) for n in range(6)]
            high = [await engine.submit("again", {"n": n}, priority=9) for n in range(6)]
            c.start_worker(1)
            for t in low + high:
                await engine.wait(t, timeout=60)
            return low, high

    low, high = arun(go())
    order = [line.split()[0] for line in c.runs.read_text().splitlines()]
    # The first delivery may be any (it was fetched as the worker started); the rest are
    # served highest priority first.
    assert set(order[1:6]) <= set(high), order
    assert set(order[-5:]) <= set(low), order


def test_sigterm_finishes_within_the_grace_then_hands_back(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    gen = cluster_of(tmp_path, monkeypatch, REDIS, lease_s="2", heartbeat_s="0.5",
                   sweep_interval_s="0.5", reconcile_after_s="30", shutdown_grace_s="0.5")
    c = next(gen)
    try:
        first = c.start_worker(2)

        async def go() -> tuple[str, str, TaskStatus, TaskStatus, float]:
            async with _engine(c) as engine:
                # Long enough that a worker that waited for them could not pass the check.
                again = await engine.submit("again", {"n": 1, "seconds": 20})
                once = await engine.submit("once", {"n": 2, "seconds": 20})
                await asyncio.to_thread(wait_until, lambda: len(c.run_counts()) == 2, 30,
                                        "both tasks running")
                stopped = time.monotonic()
                first.send_signal(signal.SIGTERM)
                await asyncio.to_thread(first.wait, 30)
                took = time.monotonic() - stopped
                c.start_worker(2)  # takes the task handed back
                r_once = await engine.wait(once, timeout=60)
                await asyncio.to_thread(wait_until, lambda: c.run_counts()[again] == 2, 60,
                                        "the handed-back task running again")
                info = await engine.status(again)
                return again, once, info.status, r_once.status, took

        again, once, s_again, s_once, took = arun(go())
        assert first.returncode == 0, c.logs()
        assert took < 12, c.logs()  # the grace period (and a loaded box's exit), not 20 s
        assert s_again is TaskStatus.RUNNING  # handed back, running again elsewhere
        assert s_once is TaskStatus.CANCELLED  # not idempotent: never run twice
        counts = c.run_counts()
        assert (counts[again], counts[once]) == (2, 1)
    finally:
        with contextlib.suppress(StopIteration):
            next(gen)


def test_a_started_non_idempotent_task_whose_claim_was_lost_is_not_run_again(
        redis_cluster: Cluster) -> None:
    """The journal says it started, the ledger has no claim (PostgreSQL lost the claim's
    commit in a crash): a worker ends it ``interrupted`` instead of running it twice."""
    c = redis_cluster

    async def go() -> tuple[TaskStatus, str | None]:
        async with _engine(c) as engine:
            task_id = await engine.submit("once", {"n": 3})
            stored = await engine.journal.get_request(task_id)
            assert stored is not None
            task = task_from_stored(stored)
            task.status, task.attempts, task.started_at = TaskStatus.RUNNING, 1, time.time()
            await engine.journal.started(task)
            c.start_worker(1)
            result = await engine.wait(task_id, timeout=60)
            return result.status, result.error.code if result.error else None

    assert arun(go()) == (TaskStatus.FAILED, "interrupted")
    assert not c.run_counts()


def test_a_worker_seals_what_it_writes_in_an_encrypted_postgresql_journal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's journal seals with the engines' keyring (the data folder they share):
    it reads the sealed request and writes a sealed output, no number of it in clear."""
    import base64

    from tests._postgres import table_bytes
    canary = 7_318_204_559  # the parameter, and the output that echoes it
    for c in cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="2",
                      heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="1.5"):
        extra = {"SKILLEXEC_SECURITY__ENCRYPTION": "true",
                 "SKILLEXEC_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
                 # the PostgreSQL journal's audit tables come with branch pgsec
                 "SKILLEXEC_AUDIT__ENABLED": "false"}
        c.env.update(extra)
        c.apply_env(monkeypatch)
        for k, v in extra.items():
            monkeypatch.setenv(k, v)

        async def go() -> Any:
            async with _engine(c) as engine:
                task_id = await engine.submit("again", {"n": canary})
                return await engine.wait(task_id, timeout=60)
        c.start_worker(1)
        result = arun(go())
        assert result.status is TaskStatus.SUCCEEDED, c.logs()
        assert result.output == {"n": canary}
        assert str(canary).encode() not in table_bytes(c.env["SKILLEXEC_JOURNAL__URL"])
