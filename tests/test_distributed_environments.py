"""Distributed mode: a worker provisions the environment of a skill it claims a task of,
as an engine does on a skill's first call: a fresh worker (its own data folder, no
environment made yet) runs a skill whose requirements.txt names a package, from a local
wheel. Real PostgreSQL, Redis and ``skillexec worker`` processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from skillexec.task import ExecutionResult
from tests._distributed import REDIS, Cluster
from tests._distributed import cluster as cluster_of
from tests._wheels import make_wheel
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

_USES = ("import tinypkg_dist\n"
         "def execute(data):\n"
         "    return {'value': tinypkg_dist.VALUE, 'from': tinypkg_dist.__file__}\n")


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="5",
                          heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="30")


def test_a_fresh_worker_provisions_the_environment_of_a_skill_it_claims(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    c = cluster
    links = c.root / "wheels"
    make_wheel(links, "tinypkg-dist", "1.0.0", "VALUE = 7\n", module="tinypkg_dist")
    for key, value in (("SKILLEXEC_ENVIRONMENTS__FIND_LINKS", json.dumps([str(links)])),
                       ("SKILLEXEC_ENVIRONMENTS__NO_INDEX", "true")):
        c.env[key] = value
        monkeypatch.setenv(key, value)
    folder = c.skills / "withenv"
    folder.mkdir()
    (folder / "skill.json").write_text(json.dumps(
        {"id": "withenv", "version": "1.0.0", "entry_point": "main:execute",
         "execution": {"idempotent": True}}))
    (folder / "main.py").write_text(_USES)
    (folder / "requirements.txt").write_text("tinypkg-dist==1.0.0\n")
    c.start_worker(1)
    c.wait_consuming()

    async def go() -> ExecutionResult:
        # The submitter's own data folder: whatever it provisions, the worker does not see.
        async with SkillExecutionEngine(skills_dir=c.skills,
                                        data_dir=c.root / "client-data") as engine:
            task_id = await engine.submit("withenv", {})
            return await engine.wait(task_id, timeout=150)

    result = arun(go())
    assert result.status is TaskStatus.SUCCEEDED, (result.error, c.logs())
    assert result.output is not None and result.output["value"] == 7
    assert str(c.data) in result.output["from"], result.output  # the worker's environment
