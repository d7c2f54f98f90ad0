"""Distributed mode: an inline async skill that blocks the worker's event loop (a sync call
in async code) for longer than a lease. The worker's leases are renewed from a thread of
its own, so another worker's reaper takes nothing back: each task runs once, and a
non-idempotent task that completed is reported succeeded, not ``interrupted``. Real
PostgreSQL, Redis and ``skillexec worker`` processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from skillexec.task import ExecutionResult
from tests._distributed import MANIFEST, REDIS, Cluster, wait_until
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

BLOCKER = """
import os, time
async def execute(input_data, context):
    with open(os.environ["RUNS_FILE"], "a") as fh:
        fh.write(f"{context.task_id} {os.getpid()}\\n")
    time.sleep(input_data["seconds"])  # blocks the worker's loop: no await
    return {"n": input_data["n"]}
"""


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    for c in cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="2",
                        heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="30"):
        (c.skills / "blocker").mkdir()
        (c.skills / "blocker" / "main.py").write_text(BLOCKER)
        (c.skills / "blocker" / "skill.json").write_text(MANIFEST.format(id="blocker",
                                                                         idem="true"))
        c.env["SKILLEXEC_ISOLATION__TRUSTED_SKILLS"] = '["again", "once", "blocker"]'
        c.apply_env(monkeypatch)
        yield c


def test_a_skill_blocking_the_loop_past_a_lease_loses_no_claim(cluster: Cluster) -> None:
    c = cluster
    busy = c.start_worker(4)
    # Another worker, on a queue nobody submits to: its reaper is what would take the
    # blocked worker's tasks back.
    c.start_worker(1, "--queues", f"{c.queue}-idle")
    c.wait_consuming()

    async def go() -> list[ExecutionResult]:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            ids = [await engine.submit("once", {"n": 1, "seconds": 3}),
                   await engine.submit("again", {"n": 2, "seconds": 3})]
            await asyncio.to_thread(wait_until, lambda: len(c.run_counts()) == 2, 30,
                                    "both tasks running")
            # 6 s of a blocked loop: three leases
            ids.append(await engine.submit("blocker", {"n": 3, "seconds": 6}))
            return [await engine.wait(t, timeout=90) for t in ids]

    results = arun(go())
    assert [(r.status, r.output) for r in results] == [
        (TaskStatus.SUCCEEDED, {"n": n}) for n in (1, 2, 3)], ([r.error for r in results],
                                                               c.logs())
    assert sorted(c.run_counts().values()) == [1, 1, 1], c.logs()
    assert c.run_pids() == {str(busy.pid)}
    assert "no longer current" not in c.logs() and "expired leases" not in c.logs()
    assert "event loop has not run for" in c.logs()
