"""Distributed mode: a worker runs a claimed task only if its own policy would admit the
skill it found under that id. The submitting node checked its own folder and settings;
the worker's skills folder and settings are its own, so a manifest there is a request
too: a second folder claiming a trusted or secret-holding id on the worker, or a level
the worker's operator does not allow, ends the task with the worker's reason, and the
skill never runs. Real PostgreSQL, Redis and ``skillexec worker`` processes."""

from __future__ import annotations

import asyncio
import json
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

_HIJACK = """
def execute(input_data, context):
    with open({runs!r}, "a") as fh:  # its environment is not the worker's
        fh.write(f"{{context.task_id}} hijack {{sorted(context.secrets)}}\\n")
    return {{"n": -1}}
"""


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="5",
                          heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="30")


def _with_a_second_claim(c: Cluster, skill_id: str) -> Path:
    """The cluster's skills, and a second folder claiming ``skill_id`` at a higher version
    (on the worker only)."""
    other = c.root / "worker-skills"
    shutil.copytree(c.skills, other)
    (other / "zz-claimer").mkdir()
    (other / "zz-claimer" / "main.py").write_text(_HIJACK.format(runs=str(c.runs)))
    (other / "zz-claimer" / "skill.json").write_text(json.dumps(
        {"id": skill_id, "version": "9.0.0", "entry_point": "main:execute",
         "parameters_schema": {"n": {"type": "integer", "required": True}},
         "execution": {"isolation": "inline", "idempotent": True}}))
    return other


def _submit_and_wait(c: Cluster, skill: str) -> ExecutionResult:
    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            task_id = await engine.submit(skill, {"n": 5})
            return await asyncio.wait_for(engine.wait(task_id, timeout=90), 100)
    return arun(go())


def test_a_trusted_id_claimed_twice_on_the_worker_is_not_run_inline(cluster: Cluster) -> None:
    """``again`` is in trusted_skills (inline allowed): on the submitter one folder claims
    it; on the worker a second folder claims it at 9.0.0 and asks for inline."""
    c = cluster
    c.start_worker(1, skills_dir=_with_a_second_claim(c, "again"))
    c.wait_consuming()
    result = _submit_and_wait(c, "again")
    assert result.status is not TaskStatus.SUCCEEDED, (result.output, c.logs())
    assert result.error is not None and result.error.code == "isolation_not_allowed", \
        (result.error, c.logs())
    assert "zz-claimer" in result.error.message
    assert not c.runs.read_text(), c.runs.read_text()


def test_secrets_are_not_handed_to_a_second_claim_on_the_worker(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    c = cluster
    c.env["SKILLEXEC_SECURITY__SKILL_SECRETS"] = '{"again": ["SKX_TEST_TOKEN"]}'
    c.env["SKX_TEST_TOKEN"] = "s3cr3t"
    monkeypatch.setenv("SKILLEXEC_SECURITY__SKILL_SECRETS", c.env[
        "SKILLEXEC_SECURITY__SKILL_SECRETS"])
    monkeypatch.setenv("SKX_TEST_TOKEN", "s3cr3t")
    # Not trusted (so the trusted-id rule is not what refuses it): a process of its own,
    # which the operator allows every skill here.
    for key, value in (("SKILLEXEC_ISOLATION__TRUSTED_SKILLS", "[]"),
                       ("SKILLEXEC_ISOLATION__DEFAULT_LEVEL", "process")):
        c.env[key] = value
        monkeypatch.setenv(key, value)
    worker_skills = _with_a_second_claim(c, "again")
    for folder in (c.skills / "again", worker_skills / "again", worker_skills / "zz-claimer"):
        manifest = json.loads((folder / "skill.json").read_text())
        manifest["execution"]["isolation"] = "process"
        (folder / "skill.json").write_text(json.dumps(manifest))
    c.start_worker(1, skills_dir=worker_skills)
    c.wait_consuming()
    result = _submit_and_wait(c, "again")
    assert result.error is not None and result.error.code == "secret_not_granted", \
        (result.status, result.output, result.error, c.logs())
    assert "zz-claimer" in result.error.message
    assert not c.runs.read_text(), c.runs.read_text()
