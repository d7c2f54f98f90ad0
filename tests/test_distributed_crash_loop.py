"""Distributed mode: an idempotent task whose run kills its worker (``os._exit`` here; a
segfault in a native extension or the OOM killer alike) is run again after each lost lease
only up to a bound, then ends ``failed``/``worker_lost`` naming the workers it took down,
instead of taking down every worker that starts, forever. Real PostgreSQL, Redis and
``skillexec worker`` processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from skillexec.task import ExecutionResult
from tests._distributed import MANIFEST, REDIS, Cluster
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
MOST_LOST = 3  # the bound (distributed.ledger.MOST_LOST)

CRASH = """
import os
async def execute(input_data, context):
    with open(os.environ["RUNS_FILE"], "a") as fh:
        fh.write(f"{context.task_id} {os.getpid()}\\n")
    os._exit(3)
"""


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    for c in cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="2",
                        heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="30"):
        (c.skills / "crash").mkdir()
        (c.skills / "crash" / "main.py").write_text(CRASH)
        (c.skills / "crash" / "skill.json").write_text(MANIFEST.format(id="crash",
                                                                       idem="true"))
        c.env["SKILLEXEC_ISOLATION__TRUSTED_SKILLS"] = '["again", "once", "crash"]'
        c.apply_env(monkeypatch)
        yield c


def test_a_task_that_kills_its_worker_ends_worker_lost_after_a_bound(cluster: Cluster
                                                                     ) -> None:
    c = cluster

    async def go() -> tuple[str, ExecutionResult]:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            task_id = await engine.submit("crash", {"n": 1})
            end = time.monotonic() + 150
            # A supervisor: a worker is always up (each one the task kills is replaced).
            while not (await engine.status(task_id)).status.terminal:
                assert time.monotonic() < end, c.logs()
                if all(p.poll() is not None for p in c.workers):
                    c.start_worker(1)
                await asyncio.sleep(0.2)
            return task_id, await engine.wait(task_id, timeout=5)

    task_id, result = arun(go())
    assert result.status is TaskStatus.FAILED, c.logs()
    assert result.error is not None and result.error.code == "worker_lost"
    assert not result.error.retryable
    assert f"lost its worker {MOST_LOST} times" in result.error.message
    assert c.run_counts()[task_id] == MOST_LOST
    dead = [p for p in c.workers if p.poll() is not None]
    assert len(dead) == MOST_LOST and {p.returncode for p in dead} == {3}
