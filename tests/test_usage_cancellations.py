"""A cancelled call is counted apart from failures in the usage accounts (live, Prometheus,
the journal's usage report and its command), as refusals are: counted as a failure, a skill
whose callers withdrew calls looked broken. Embedded, and on a distributed worker (the
journal's report from any node)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skillexec import SkillExecutionEngine, TaskStatus, skill
from skillexec.reliability.analysis import error_report
from skillexec.resources.usage_report import usage_report
from tests._distributed import REDIS, Cluster, wait_until
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

ROOT = Path(__file__).resolve().parents[1]


@skill("nap", max_retries=0)
async def nap(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


def _counts(u: dict[str, Any]) -> tuple[int, int, int, int]:
    return u["calls"], u["failures"], u["refusals"], u["cancellations"]


def test_usage_counts_cancelled_calls_apart_from_failures(tmp_path: Path) -> None:
    async def go() -> tuple[dict[str, Any], dict[str, Any], str, dict[str, Any]]:
        async with SkillExecutionEngine(data_dir=tmp_path / ".skillexec") as e:
            e.register(nap)
            assert (await e.execute("nap", {"seconds": 0}, principal="ann")).ok
            task_id = await e.submit("nap", {"seconds": 60}, principal="ann")
            await asyncio.sleep(0.2)
            assert await e.cancel(task_id)
            assert (await e.wait(task_id, timeout=30)).status is TaskStatus.CANCELLED
            return e.resources.usage(), await usage_report(e.journal), \
                e.monitor.prometheus_text(), (await error_report(e.journal)).to_dict()

    live, journal, metrics, errors = arun(go())
    for u in (live, journal):
        assert _counts(u["skills"]["nap"]) == (2, 0, 0, 1)
        assert _counts(u["principals"]["ann"]) == (2, 0, 0, 1)
    assert 'skillexec_skill_cancellations_total{skill="nap"} 1.0' in metrics
    assert 'skillexec_skill_failures_total{skill="nap"} 0.0' in metrics
    # Nor is it a failure in the errors report: no attempt of it failed.
    assert (errors["tasks_with_failures"], errors["failed_attempts"]) == (0, 0), errors

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}

    def cli(*args: str) -> str:
        r = subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout
    usage = json.loads(cli("report", "usage", "-f", "json"))
    assert _counts(usage["skills"]["nap"]) == (2, 0, 0, 1)
    table = cli("report", "usage")
    row = next(ln for ln in table.splitlines() if ln.split()[:1] == ["nap"])
    assert "cancelled" in table and row.split()[1:5] == ["2", "0", "0", "1"]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="5",
                          heartbeat_s="0.5", sweep_interval_s="0.5")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_call_cancelled_on_a_worker_is_no_failure_in_the_usage_report(cluster: Cluster
                                                                         ) -> None:
    c = cluster
    c.start_worker(1)

    async def go() -> dict[str, Any]:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            task_id = await engine.submit("once", {"n": 1, "seconds": 60})
            await asyncio.to_thread(wait_until, lambda: task_id in c.run_counts(), 60,
                                    "the task running on the worker")
            assert await engine.cancel(task_id)
            result = await engine.wait(task_id, timeout=60)
            assert result.status is TaskStatus.CANCELLED
            return await usage_report(engine.journal)

    report = arun(go())
    assert _counts(report["skills"]["once"]) == (1, 0, 0, 1), c.logs()
