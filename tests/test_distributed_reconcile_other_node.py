"""Distributed mode: a task submitted on one node whose broker message is lost (a Redis
restart without persistence) is published again by a worker on another node (its own
``--data-dir``, as on another machine), onto the queue it was published to, and runs
once. Real PostgreSQL, Redis and ``skillexec worker`` processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from skillexec.task import ExecutionResult
from tests._distributed import REDIS, Cluster, lose_messages
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="5",
                          heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="1.5")


def _submit_lose_and_wait(c: Cluster, queue: str, then: object) -> list[ExecutionResult]:
    async def go() -> list[ExecutionResult]:
        # The submitter's data folder is not the workers': another node.
        async with SkillExecutionEngine(skills_dir=c.skills,
                                        data_dir=c.root / "submitter") as engine:
            ids = [await engine.submit("once", {"n": n}) for n in range(3)]
            await asyncio.sleep(0.3)  # published at the end of the loop's turn
            assert lose_messages(queue) >= 1
            then()  # type: ignore[operator]
            return [await engine.wait(t, timeout=90) for t in ids]
    return arun(go())


def test_a_lost_message_of_another_nodes_task_is_published_again_and_runs_once(
        cluster: Cluster) -> None:
    c = cluster
    results = _submit_lose_and_wait(c, c.queue, lambda: c.start_worker(2))
    assert [r.status for r in results] == [TaskStatus.SUCCEEDED] * 3, c.logs()
    assert sorted(c.run_counts().values()) == [1, 1, 1]
    assert "queued tasks published again" in c.logs()


def test_it_is_published_again_onto_its_own_queue_whichever_worker_leads(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two queues, a worker each: the leader of the sweep (either) publishes the task again
    onto the queue it was submitted to, where its worker runs it."""
    c = cluster
    other = f"{c.queue}-b"
    monkeypatch.setenv("SKILLEXEC_DISTRIBUTED__QUEUE", other)  # the submitter's
    workers = []

    def start() -> None:
        workers.append(c.start_worker(1, "--queues", c.queue))
        workers.append(c.start_worker(1, "--queues", other))

    results = _submit_lose_and_wait(c, other, start)
    assert [r.status for r in results] == [TaskStatus.SUCCEEDED] * 3, c.logs()
    assert c.run_pids() == {str(workers[1].pid)}, c.logs()
