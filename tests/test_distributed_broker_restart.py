"""Distributed mode when the broker itself dies: Redis killed (-9) and restarted without
persistence in the middle of a run. The workers reconnect, the submitting engine publishes
again, and what the broker lost (messages waiting, unacked ones) is published again by the
reconciler: every task ends, a non-idempotent one runs at most once. A Redis of the test's
own (the shared one serves every engineer's tests)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from tests._distributed import Cluster, wait_until
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Redis:
    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def answers() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                return False
        wait_until(answers, 20, "redis answering")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[_Redis]:
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server here")
    r = _Redis(tmp_path)
    r.start()
    try:
        yield r
    finally:
        if r.proc is not None and r.proc.poll() is None:
            r.kill()


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis: _Redis
            ) -> Iterator[Cluster]:
    (tmp_path / "c").mkdir()
    yield from cluster_of(tmp_path / "c", monkeypatch, redis.url, pg_journal=True,
                          lease_s="5", heartbeat_s="0.5", sweep_interval_s="0.5",
                          reconcile_after_s="3")


def test_redis_killed_and_restarted_mid_run_loses_nothing(cluster: Cluster,
                                                          redis: _Redis) -> None:
    c = cluster
    c.start_worker(2)
    c.wait_consuming()

    async def go() -> dict[str, tuple[str, TaskStatus]]:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            ids: dict[str, str] = {}
            for n in range(6):
                skill = "again" if n % 2 else "once"
                ids[await engine.submit(skill, {"n": n, "seconds": 1})] = skill
            await asyncio.to_thread(wait_until, lambda: len(c.run_counts()) >= 1, 60,
                                    "a task running")
            redis.kill()
            await asyncio.sleep(1)
            redis.start()
            for n in range(6, 10):
                skill = "again" if n % 2 else "once"
                ids[await engine.submit(skill, {"n": n, "seconds": 0})] = skill
            out = {}
            for t, skill in ids.items():
                r = await engine.wait(t, timeout=120)
                out[t] = (skill, r.status)
            return out

    ends = arun(go())
    counts = c.run_counts()
    for task_id, (skill, status) in ends.items():
        assert status is TaskStatus.SUCCEEDED, (task_id, skill, status, c.logs())
        if skill == "once":
            assert counts[task_id] == 1, (task_id, counts)
    assert all(w.poll() is None for w in c.workers), c.logs()  # the workers reconnected
