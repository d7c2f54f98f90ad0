"""Distributed mode, as a message arrives at a worker: a lone task's claim sent by the thread
that received the message (``EarlyClaims``: the ledger's claim, on a connection of its own,
read on the engine's loop), and Celery's pool thread taken only once the message's tasks
ended (``WaitingPool``). Real PostgreSQL, Redis and ``skillexec worker`` processes."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import psycopg
import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from skillexec.distributed.early import APP_NAME, EarlyClaims
from skillexec.distributed.ledger import Claim, Ledger
from skillexec.distributed.pool import waiting_pool
from skillexec.errors import ResourceError
from skillexec.storage.postgres import PostgresStore
from skillexec.storage.sqlite_request import stored_task
from skillexec.task import ExecutionTask, Request
from tests._distributed import REDIS, Cluster, database, wait_until
from tests._distributed import cluster as cluster_of
from tests.conftest import arun


@pytest.fixture
def db() -> Iterator[str]:
    yield from database()


def _task(task_id: str) -> ExecutionTask:
    return ExecutionTask.of(task_id, Request("s", "1", {"n": 1}, {}, 5, 1.0, 0, True,
                                             time.time()), status=TaskStatus.QUEUED)


async def _opened(db: str, worker: str) -> tuple[PostgresStore, Ledger]:
    journal = PostgresStore(db)
    await journal.open()
    ledger = Ledger(db, worker_id=worker, lease_s=30.0)
    await ledger.open()
    return journal, ledger


def test_an_early_claim_takes_the_task_as_the_ledgers_claim_does(db: str) -> None:
    """Sent from a thread that is not the loop's, answered on the loop: the fence and the
    task's request; then refused to anyone else (and to itself again), and for a task the
    journal does not hold."""
    async def go() -> list[Any]:
        journal, ledger = await _opened(db, "a")
        other = Ledger(db, worker_id="b", lease_s=30.0)
        await other.open()
        early = EarlyClaims(ledger, queue="q")
        try:
            await journal.queued(_task("t1"))
            await asyncio.to_thread(early.open)
            sent = await asyncio.to_thread(early.send, "t1")
            assert sent is not None
            got = await sent.answer()
            assert got is not None
            st = stored_task(got[1])
            again = await (await asyncio.to_thread(early.send, "t1")).answer()  # type: ignore[union-attr]
            absent = await (await asyncio.to_thread(early.send, "nope")).answer()  # type: ignore[union-attr]
            return [got[0], st.task_id, st.request.params, await other.claim_request(
                "t1", queue="q"), again, absent, await ledger.state("t1"), early.sent]
        finally:
            early.close()
            await other.close()
            await ledger.close()
            await journal.close()

    assert arun(go()) == [Claim("t1", 1), "t1", {"n": 1}, None, None, None, ("running", 1), 3]


def test_one_early_claim_at_a_time_the_others_take_the_loops_way(db: str) -> None:
    async def go() -> list[Any]:
        journal, ledger = await _opened(db, "a")
        early = EarlyClaims(ledger, queue="q")
        try:
            await asyncio.gather(journal.queued(_task("t1")), journal.queued(_task("t2")))
            early.open()
            first = early.send("t1")
            busy = early.send("t2")  # the first's answer not read yet
            assert first is not None
            won = await first.answer()
            second = early.send("t2")
            assert second is not None
            return [busy, won is not None and won[0], await second.answer() is not None]
        finally:
            early.close()
            await ledger.close()
            await journal.close()

    assert arun(go()) == [None, Claim("t1", 1), True]


def test_a_lost_connection_fails_its_claim_and_early_claims_come_back(db: str) -> None:
    """The connection killed under a claim: its answer is a ResourceError (the node hands
    the message back); later sends take the loop's way until a new connection, made in the
    background, serves them again."""
    async def go() -> tuple[bool, bool]:
        journal, ledger = await _opened(db, "a")
        early = EarlyClaims(ledger, queue="q", retry_s=0.05)
        try:
            for n in range(3):
                await journal.queued(_task(f"t{n}"))
            early.open()
            with psycopg.connect(db, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                              " WHERE application_name = %s AND datname = current_database()",
                              (APP_NAME,))
            failed = False
            sent = early.send("t0")
            if sent is not None:  # the send itself may already see the connection gone
                with pytest.raises(ResourceError):
                    await sent.answer()
                failed = True
            deadline = time.monotonic() + 10
            came_back = None
            while came_back is None and time.monotonic() < deadline:
                came_back = early.send("t1")
                if came_back is None:
                    await asyncio.sleep(0.02)
            assert came_back is not None, "no new connection"
            return failed or sent is None, await came_back.answer() is not None
        finally:
            early.close()
            await ledger.close()
            await journal.close()

    assert arun(go()) == (True, True)


def test_the_pool_thread_is_taken_once_the_messages_tasks_ended() -> None:
    """A message started on arrival: its Celery task (the tracer, the late ack) runs on a
    pool thread only after what was started ended; another message runs at once; a warm
    stop waits for the pending one."""
    started: Future[list[str]] = Future()
    pool = waiting_pool(lambda message_id: started if message_id == "m1" else None)(limit=2)
    pool.start()
    ran: dict[str, threading.Event] = {"m1": threading.Event(), "m2": threading.Event()}
    answered: list[Any] = []

    def target(message_id: str) -> str:
        ran[message_id].set()
        return message_id

    first = pool.apply_async(target, args=("m1",), callback=answered.append,
                             correlation_id="m1")
    pool.apply_async(target, args=("m2",), callback=answered.append, correlation_id="m2")
    assert ran["m2"].wait(5)
    assert not ran["m1"].wait(0.2)  # its tasks still run
    stopped = threading.Event()

    def stop() -> None:
        pool.stop()
        stopped.set()
    stopper = threading.Thread(target=stop)
    stopper.start()
    assert not stopped.wait(0.2)  # the warm stop waits for m1
    started.set_result([])
    assert ran["m1"].wait(5) and stopped.wait(5)
    stopper.join(5)
    assert first.get(5) is None and answered == ["m2", "m1"]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="5",
                          heartbeat_s="0.5", sweep_interval_s="0.5")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_worker_claims_a_lone_task_as_its_message_arrives(cluster: Cluster) -> None:
    """Calls one at a time: each claim is sent by the thread that received the message
    (the worker's early-claims counter), each task runs once and answers; so do tasks
    submitted together (a message of many ids: the loop's batched claims)."""
    port = _free_port()
    cluster.start_worker(2, "--metrics-port", str(port))

    async def go() -> tuple[list[Any], list[Any]]:
        async with SkillExecutionEngine(skills_dir=cluster.skills,
                                        data_dir=cluster.data) as engine:
            one = [await engine.execute("again", {"n": n}) for n in range(4)]
            many = await asyncio.gather(*(engine.execute("again", {"n": 10 + n})
                                          for n in range(6)))
            return [r.output for r in one if r.ok], [r.output for r in many if r.ok]

    one, many = arun(go())
    assert one == [{"n": n} for n in range(4)]
    assert many == [{"n": 10 + n} for n in range(6)]
    assert set(cluster.run_counts().values()) == {1}
    wait_until(lambda: _metric(port, "skillexec_worker_early_claims_total") >= 4, 10,
               "the early claims counted")


def test_an_early_claim_waits_in_the_server_for_a_row_about_to_commit(db: str) -> None:
    """The claim reaches the server while the task's submission is still uncommitted: the
    server waits (``wait_s``) before the claim, which then sees the row and takes it (not
    refused, to be tried again from the worker after a pause)."""
    async def go() -> Any:
        journal, ledger = await _opened(db, "a")
        early = EarlyClaims(ledger, queue="q", wait_s=30.0)
        try:
            await journal.queued(_task("template"))
            early.open()
            with psycopg.connect(db) as submitter:  # a transaction of its own, left open
                columns = ("skill_id, skill_version, status, priority, params, config,"
                           " timeout_s, max_retries, idempotent, principal, created_at, node")
                submitter.execute(f"INSERT INTO tasks(task_id, {columns}) SELECT 't1',"
                                  f" {columns} FROM tasks WHERE task_id = 'template'")
                sent = early.send("t1")
                assert sent is not None
                answer = asyncio.ensure_future(sent.answer())
                with psycopg.connect(db, autocommit=True) as admin:
                    wait_until(lambda: admin.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND"
                        " wait_event = 'PgSleep'", (APP_NAME,)).fetchone() is not None, 10,
                        "the early claim waiting in the server")
                submitter.commit()
            got = await asyncio.wait_for(answer, 30)
            return got and got[0]
        finally:
            early.close()
            await ledger.close()
            await journal.close()

    assert arun(go()) == Claim("t1", 1)
