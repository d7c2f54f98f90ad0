"""Distributed mode: deliveries a worker can never claim are dropped with their reason,
not requeued at once forever (a hot loop purging the queue could not stop): a message
naming no task id (a NUL byte), and a task the worker cannot read (its --data-dir's keyring
is not the submitter's), whose claim goes back for a worker that can; such a worker then
refuses to start, naming its keyring. Real PostgreSQL, Redis and ``skillexec worker``."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from skillexec.distributed.transport import Transport
from tests._distributed import REDIS, Cluster, wait_until
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="5",
                          heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="30")


def _log(c: Cluster, n: int = 0) -> str:
    return (c.root / f"worker{n}.log").read_text(errors="replace")


def test_a_message_naming_no_task_id_is_dropped_once(cluster: Cluster) -> None:
    c = cluster
    c.start_worker(2)

    async def go() -> TaskStatus:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            transport = Transport(c.env["SKILLEXEC_BROKER_URL"], c.queue)
            transport.publish("abc\x00def", priority=5)
            transport.close()
            result = await engine.execute("once", {"n": 1})  # served all the same
            await asyncio.sleep(3.0)  # what a requeued message would have gone round
            return result.status

    assert arun(go()) is TaskStatus.SUCCEEDED
    log = _log(c)
    assert log.count("no task ids") == 1, log[-3000:]
    assert "cannot claim now" not in log


def test_a_worker_without_the_submitters_keyring_drops_the_task_and_refuses_to_start(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    c = cluster
    secure = {"SKILLEXEC_SECURITY__ENCRYPTION": "true",
              "SKILLEXEC_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    c.env.update(secure)
    c.apply_env(monkeypatch)
    c.start_worker(2)  # its --data-dir is not the submitter's: another keyring.json
    c.wait_consuming()

    async def go() -> TaskStatus:
        async with SkillExecutionEngine(skills_dir=c.skills,
                                        data_dir=c.root / "submitter") as engine:
            task_id = await engine.submit("once", {"n": 1})
            await asyncio.to_thread(wait_until, lambda: "cannot read it" in _log(c), 30,
                                    "the worker giving up on the task")
            await asyncio.sleep(3.0)  # what a requeued message would have gone round
            return (await engine.status(task_id)).status

    assert arun(go()) is TaskStatus.QUEUED  # for a worker that can read it
    log = _log(c)
    assert log.count("cannot read it") == 1 and "cannot claim now" not in log, log[-3000:]
    assert not c.run_counts()
    c.stop()
    again = subprocess.run(c.workers[0].args, env=c.env, cwd=c.root, capture_output=True,
                           text=True, timeout=90)
    assert again.returncode != 0
    assert "keyring" in again.stderr and "--data-dir" in again.stderr, again.stderr
