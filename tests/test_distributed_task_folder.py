"""Distributed mode: a worker does not run a task with another folder's code under its id.

The submitter ran the second folder of an id (not loaded, "already defined", run by its
path); the worker, whose skills folder holds both, found the id naming the first and ran
its script for the task. The worker now knows the task's folder as one claiming the id,
and refuses it, naming both. A folder the worker does not know (the submitter's own copy,
elsewhere) is still the worker's business: its copy runs, as the README says. Real
PostgreSQL, Redis and ``skillexec worker`` processes."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from skillexec.task import ExecutionResult
from tests._distributed import REDIS, Cluster
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True)


def _tool(folder: Path, says: str) -> Path:
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\nname: tool\ndescription: Tool from {says}.\n---\n"
                                     "Run scripts/who.sh\n")
    (folder / "scripts" / "who.sh").write_text(f"#!/bin/bash\necho \"I am {says}\"\n")
    return folder


def _run(skills: Path, data: Path, *register: Path) -> ExecutionResult:
    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=data) as engine:
            for folder in register:
                engine.register(folder)
            return await asyncio.wait_for(engine.run_script("tool", "scripts/who.sh"), 120)
    return arun(go())


def test_a_worker_refuses_a_task_of_a_folder_its_id_does_not_name(cluster: Cluster) -> None:
    c = cluster
    dup = c.root / "dup"
    a, b = _tool(dup / "a--tool", "a"), _tool(dup / "b--tool", "b")
    c.start_worker(1, skills_dir=dup)
    c.wait_consuming()

    refused = _run(dup, c.data, b)
    assert refused.status is TaskStatus.FAILED, (refused, c.logs())
    assert refused.error is not None and refused.error.code == "skill_folder_differs", \
        (refused.error, c.logs())
    assert f"from the folder {b}" in refused.error.message, refused.error
    assert f"here is the one at {a}" in refused.error.message, refused.error
    assert refused.output is None or "I am" not in str(refused.output)

    # The submitter's own copy elsewhere (one folder of the id there): the worker's runs.
    client = c.root / "client"
    shutil.copytree(b, client / "tool")
    ran = _run(client, c.root / "client-data")
    assert ran.status is TaskStatus.SUCCEEDED, (ran, c.logs())
    assert ran.output["stdout"] == "I am a\n"
