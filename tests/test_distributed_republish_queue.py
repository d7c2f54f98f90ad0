"""Distributed mode: a task handed back, released at shutdown or taken back by the reaper is
published again onto the queue it came from, not onto the first queue of the worker that
claimed it (which a worker able to run it may not consume). Real PostgreSQL, RabbitMQ and
``skillexec worker`` processes."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from tests._distributed import AMQP, Cluster, wait_until
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    # RabbitMQ: a message goes to the next consumer of its queue in turn, so where it is
    # published decides who gets it (Redis' longest-waiter rule would blur the outcome).
    yield from cluster_of(tmp_path, monkeypatch, AMQP, pg_journal=True, lease_s="5",
                          heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="60",
                          hand_back_pause_s="0.5")


def _claim_queue(c: Cluster, task_id: str) -> str | None:
    with psycopg.connect(c.env["SKILLEXEC_JOURNAL__URL"], autocommit=True) as conn:
        row = conn.execute("SELECT queue FROM skillexec_claims WHERE task_id = %s",
                           (task_id,)).fetchone()
    return None if row is None else str(row[0])


def test_a_task_handed_back_goes_back_to_its_own_queue(cluster: Cluster) -> None:
    """W1 consumes ``<q>-other`` first, then the task's queue, and lacks the skill; W2
    consumes only the task's queue and has it. W1's hand-back reaches W2: before, it went
    onto ``<q>-other``, which only W1 consumes, until ``skill_not_on_workers``."""
    c = cluster
    partial = c.root / "partial-skills"
    shutil.copytree(c.skills / "again", partial / "again")
    c.start_worker(1, "--queues", f"{c.queue}-other,{c.queue}", skills_dir=partial)
    c.wait_consuming()

    async def go() -> tuple[str, float, object]:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            task_id = await engine.submit("once", {"n": 7})
            await asyncio.to_thread(wait_until,
                                    lambda: "handed back for another worker" in c.logs(), 30,
                                    "the first hand-back")
            # The claim row names the task's queue (where the reaper would publish it too).
            queue = _claim_queue(c, task_id)
            c.start_worker(1)
            await asyncio.to_thread(c.wait_consuming)
            t0 = time.monotonic()  # W1 alone would hand it back for 2 minutes
            result = await engine.wait(task_id, timeout=30)
            return str(queue), time.monotonic() - t0, result

    queue, took, result = arun(go())
    assert queue == c.queue, c.logs()
    assert result.status is TaskStatus.SUCCEEDED, (result.error, c.logs())  # type: ignore[attr-defined]
    assert list(c.run_counts().values()) == [1]
    assert took < 30, c.logs()
