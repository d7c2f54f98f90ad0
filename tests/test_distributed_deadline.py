"""A call's deadline (counted from submission) holds while its task waits to start: with
no worker up, a distributed ``execute(..., deadline=)`` returns ``deadline_exceeded`` soon
after it instead of waiting forever, and a worker that comes later ends the task without
running it; embedded, a task whose turn comes past its deadline is not started (it used to
get a 1 ms attempt, in which an async skill's work before its first await still ran).
Real PostgreSQL, Redis and ``skillexec worker`` processes for the first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from skillexec.task import ExecutionResult
from tests._distributed import REDIS, Cluster
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.timeout(120)]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="5",
                          heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="30")


@pytest.mark.slow
def test_a_distributed_call_with_no_worker_ends_at_its_deadline_and_never_runs(
        cluster: Cluster) -> None:
    c = cluster

    async def go() -> tuple[ExecutionResult, float, TaskStatus, str | None]:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            began = time.monotonic()
            result = await asyncio.wait_for(
                engine.execute("once", {"n": 1}, deadline=2), timeout=60)
            took = time.monotonic() - began
            c.start_worker(1)  # late: it ends the task, and does not run it
            info = await engine.journal.wait_finished(result.task_id, timeout_s=60)
            assert info is not None and info.result is not None, c.logs()
            error = info.result.error
            return result, took, info.status, error.code if error else None

    result, took, status, code = arun(go())
    assert result.status is TaskStatus.TIMED_OUT
    assert result.error is not None and result.error.code == "deadline_exceeded"
    assert took < 15, took  # the deadline, a grace, a moment for a worker's end
    assert (status, code) == (TaskStatus.TIMED_OUT, "deadline_exceeded"), c.logs()
    assert not c.run_counts()


@pytest.mark.slow
def test_a_worker_does_not_start_a_task_claimed_past_its_deadline(cluster: Cluster) -> None:
    c = cluster

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            task_id = await engine.submit("once", {"n": 2}, deadline=1)
            await asyncio.sleep(1.5)
            c.start_worker(1)
            return await engine.wait(task_id, timeout=60)

    result = arun(go())
    assert result.status is TaskStatus.TIMED_OUT and result.error is not None
    assert result.error.code == "deadline_exceeded", result.error
    assert not c.run_counts()


def test_an_embedded_task_whose_turn_comes_past_its_deadline_is_not_started(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    skills = tmp_path / "skills"
    for sid, body in (("slow", "import asyncio\nasync def execute(i, c):\n"
                               "    await asyncio.sleep(3)\n    return {}\n"),
                      ("quick", "import pathlib\nasync def execute(i, c):\n"
                                "    pathlib.Path(i['path']).write_text('ran')\n"
                                "    return {}\n")):
        (skills / sid).mkdir(parents=True)
        (skills / sid / "main.py").write_text(body)
        (skills / sid / "skill.json").write_text(
            f'{{"id": "{sid}", "version": "1.0.0", "entry_point": "main:execute", '
            '"execution": {"isolation": "inline", "idempotent": false}}')
    monkeypatch.setenv("SKILLEXEC_ISOLATION__TRUSTED_SKILLS", '["slow", "quick"]')
    marker = tmp_path / "ran.txt"

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "data",
                                        max_concurrency=1) as engine:
            await engine.submit("slow", {})  # the one slot, for 3 s
            return await engine.execute("quick", {"path": str(marker)}, deadline=1)

    result = arun(go())
    assert result.status is TaskStatus.TIMED_OUT and result.error is not None
    assert result.error.code == "deadline_exceeded", result.error
    assert "not started" in result.error.message
    assert not marker.exists()
