"""Distributed mode: a task a worker ends without running it (here one the journal says
started while the ledger has no claim: ``interrupted``) keeps in its history why it ended,
not an entry reading as a clean attempt (``error: null``, ``done``). Real PostgreSQL, Redis
and ``skillexec worker`` processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from skillexec.pipeline.recovery import task_from_stored
from tests._distributed import REDIS, Cluster
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="5",
                          heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="30")


def test_a_task_ended_without_running_says_why_in_its_history(cluster: Cluster) -> None:
    c = cluster

    async def go() -> tuple[TaskStatus, list[dict[str, Any]]]:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            task_id = await engine.submit("once", {"n": 3})
            stored = await engine.journal.get_request(task_id)
            assert stored is not None
            task = task_from_stored(stored)
            task.status, task.attempts, task.started_at = TaskStatus.RUNNING, 1, time.time()
            await engine.journal.started(task)  # its claim lost in a database crash
            c.start_worker(1)
            result = await engine.wait(task_id, timeout=60)
            return result.status, await engine.history(task_id)

    status, history = arun(go())
    assert status is TaskStatus.FAILED
    assert len(history) == 1 and history[0]["error"]["code"] == "interrupted", history
    assert history[0]["decision"] != "done"
    assert not c.run_counts()
