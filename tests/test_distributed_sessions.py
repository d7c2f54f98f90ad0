"""Distributed mode and script sessions: a script submitted without waiting in a session is
refused, and the refusal says why (the turn is the submitting engine's, and a task held for
its turn would be published out of turn by a worker's reconciler) and what to do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from tests._distributed import REDIS, Cluster
from tests._distributed import cluster as cluster_of
from tests.conftest import FIXTURES, arun


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS)


def test_a_script_submitted_in_a_session_is_refused_saying_why_and_what_to_do(
        cluster: Cluster) -> None:
    async def go() -> tuple[TaskStatus, str | None, str]:
        async with SkillExecutionEngine(skills_dir=FIXTURES / "scripts",
                                        data_dir=cluster.data) as e:
            session = e.sessions.create()
            task_id = await e.submit_script("pdf-forms", "scripts/make_files.py",
                                            args=["1", "1"], session=session)
            result = await e.wait(task_id, timeout=30)
            assert result.error is not None
            return result.status, result.error.code, result.error.message

    status, code, message = arun(go())
    assert (status, code) == (TaskStatus.REJECTED, "session_submit_distributed")
    for said in ("turn", "reconciler", "run_script", "without a session"):
        assert said in message, message
