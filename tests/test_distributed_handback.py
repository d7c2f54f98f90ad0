"""Distributed mode: a claimed task that did not start on its worker is handed back, not
failed — the worker lacks its skill (another skills folder), or the journal could not record
the start of a task that is not idempotent. The fence still decides who runs it (once), and
the hand-backs are bounded: a skill no worker has ends the task, naming the skill. Real
PostgreSQL, Redis and ``skillexec worker`` processes."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from skillexec.task import ExecutionResult
from tests._distributed import AMQP, REDIS, Cluster, wait_until
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    # Eight hand-backs 0.02 s * 2^n apart: 5 s in all, not the default's 64.
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="5",
                          heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="30",
                          hand_back_pause_s="0.02")


def _without_once(c: Cluster) -> Path:
    """A skills folder like the cluster's, but without the skill ``once``."""
    other = c.root / "other-skills"
    shutil.copytree(c.skills / "again", other / "again")
    return other


def _submit_and_wait(c: Cluster, skill: str, *, timeout_s: float,
                     then: object = None) -> ExecutionResult:
    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            task_id = await engine.submit(skill, {"n": 5})
            if then is not None:
                await asyncio.to_thread(then)  # type: ignore[arg-type]
            return await engine.wait(task_id, timeout=timeout_s)
    return arun(go())


@pytest.fixture
def amqp_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, AMQP, pg_journal=True, lease_s="5",
                          heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="30")


def test_a_worker_without_the_skill_hands_the_task_to_one_that_has_it(amqp_cluster: Cluster
                                                                      ) -> None:
    """On RabbitMQ, which hands a message given back to the next consumer in turn (with
    Redis the worker that gave it back may well take it again each time: README)."""
    c = amqp_cluster
    c.start_worker(1, skills_dir=_without_once(c))

    def then() -> None:
        wait_until(lambda: "handed back" in c.logs(), 60, "the first worker handing back")
        c.start_worker(1)
        c.wait_consuming()

    result = _submit_and_wait(c, "once", timeout_s=90, then=then)
    assert result.status is TaskStatus.SUCCEEDED, (result.error, c.logs())
    assert result.output == {"n": 5}
    assert list(c.run_counts().values()) == [1]
    assert "'once'" in c.logs() and "not on this node" in c.logs()


def test_a_skill_no_worker_has_ends_the_task_naming_it(cluster: Cluster) -> None:
    c = cluster
    c.start_worker(1, skills_dir=_without_once(c))
    result = _submit_and_wait(c, "once", timeout_s=180)
    assert result.status is TaskStatus.FAILED, c.logs()
    assert result.error is not None and result.error.code == "skill_not_on_workers"
    assert "'once'" in result.error.message and "--skills-dir" in result.error.message
    assert not c.run_counts()
    assert c.logs().count("handed back for another worker") == 8, c.logs()


_CUT_ONCE = """
CREATE SEQUENCE cut_once;
CREATE FUNCTION cut_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- nextval is not rolled back: only the first start loses its connection
    IF nextval('cut_once') = 1 THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
        PERFORM pg_sleep(5);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER cut_once BEFORE UPDATE ON tasks FOR EACH ROW
    WHEN (NEW.status = 'running' AND OLD.status = 'queued') EXECUTE FUNCTION cut_once();
"""


def test_a_start_whose_connection_is_lost_is_handed_back_and_runs_once(cluster: Cluster
                                                                        ) -> None:
    """The worker's journal connection dies as it writes a non-idempotent task's start
    (the skill has not run): the task is handed back and runs once, not ``failed``."""
    c = cluster

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            with psycopg.connect(c.env["SKILLEXEC_JOURNAL__URL"], autocommit=True) as conn:
                conn.execute(_CUT_ONCE)
            c.start_worker(1)
            task_id = await engine.submit("once", {"n": 5})
            return await engine.wait(task_id, timeout=90)

    result = arun(go())
    assert result.status is TaskStatus.SUCCEEDED, (result.error, c.logs())
    assert list(c.run_counts().values()) == [1]
    assert "the journal could not record its start" in c.logs(), c.logs()
