"""An interrupted command in distributed mode (Ctrl-C on `skillexec run`, `batch`, ...):
what it published is cancelled on the worker, as a local command's calls are — nothing it
accepted is left running (README, "Ctrl-C and SIGTERM")."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from tests._distributed import REDIS, Cluster, wait_until
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def redis_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True)


def _status(c: Cluster, task_id: str) -> TaskStatus:
    async def go() -> TaskStatus:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.root / "reader") as e:
            return (await e.status(task_id)).status
    return arun(go())


def test_cancel_all_reaches_what_this_engine_published(redis_cluster: Cluster) -> None:
    """cancel_all covered the tasks of the engine's own queue only: a published one ran on
    to its end while the command had said 'interrupted' and exited."""
    c = redis_cluster
    c.start_worker(2)

    async def go() -> tuple[list[str], list[str]]:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            ids = [await engine.submit("once", {"n": n, "seconds": 60}) for n in range(2)]
            waits = [asyncio.ensure_future(engine.wait(t)) for t in ids]
            await asyncio.to_thread(wait_until, lambda: set(ids) <= set(c.run_counts()), 30,
                                    "both running on the worker")
            started = time.monotonic()
            ended = await engine.cancel_all(grace_s=0.2)
            assert time.monotonic() - started < 15
            results = await asyncio.gather(*waits)
            assert [r.status for r in results] == [TaskStatus.CANCELLED] * 2
            return ids, ended

    ids, ended = arun(go())
    assert set(ids) <= set(ended)
    assert [_status(c, t) for t in ids] == [TaskStatus.CANCELLED] * 2


def test_ctrl_c_on_a_distributed_run_cancels_it_on_the_worker(redis_cluster: Cluster) -> None:
    c = redis_cluster
    c.start_worker(1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "skillexec", "run", "once", "-p", "n=1", "-p", "seconds=60",
         "--skills-dir", str(c.skills), "--data-dir", str(c.data)],
        env=c.env, cwd=c.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: bool(c.run_counts()), 60, "the call running on the worker")
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    (task_id,) = c.run_counts()
    assert _status(c, task_id) is TaskStatus.CANCELLED, err
