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
            ids = await _submit_until_one_runs(engine, c)
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


async def _submit_until_one_runs(engine: SkillExecutionEngine, c: Cluster) -> dict[str, str]:
    """Six tasks of 1 s, idempotent and not in turn (task id -> skill), once one runs."""
    ids: dict[str, str] = {}
    for n in range(6):
        skill = "again" if n % 2 else "once"
        ids[await engine.submit(skill, {"n": n, "seconds": 1})] = skill
    await asyncio.to_thread(wait_until, lambda: len(c.run_counts()) >= 1, 60, "a task running")
    return ids


def _worker_ports(pid: int, broker_port: int) -> set[int]:
    """The local ports of ``pid``'s connections to the broker."""
    out = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True,
                         text=True, check=True).stdout
    ports = set()
    for line in out.splitlines():
        fields = line.split()
        if f"pid={pid}," in line and fields[3].endswith(f":{broker_port}"):
            ports.add(int(fields[2].rsplit(":", 1)[1]))
    return ports


def _close_rabbitmq_connections(ports: set[int]) -> int:
    """Close, broker side, the RabbitMQ connections from these local ports (only this test's
    worker's: the broker serves every engineer's tests)."""
    listed = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid", "peer_port"],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    closed = 0
    for line in listed.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) in ports:
            subprocess.run(["rabbitmqctl", "-q", "close_connection", parts[0], "test: broker "
                            "lost"], capture_output=True, timeout=60, check=True)
            closed += 1
    return closed


def test_a_workers_rabbitmq_connections_closed_mid_run_lose_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a RabbitMQ restart looks to the worker: its connections closed by the broker while
    it runs tasks. It reconnects; the unacked messages come back (redelivered, refused by
    the claims of tasks that already ran); every task ends, a non-idempotent one runs once."""
    from urllib.parse import urlparse

    from tests._distributed import AMQP

    if shutil.which("rabbitmqctl") is None or shutil.which("ss") is None:
        pytest.skip("no rabbitmqctl or ss here")
    for c in cluster_of(tmp_path, monkeypatch, AMQP, pg_journal=True, lease_s="5",
                        heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="3"):
        worker = c.start_worker(2)
        c.wait_consuming()

        async def go() -> tuple[dict[str, tuple[str, TaskStatus]], int]:
            async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
                ids = await _submit_until_one_runs(engine, c)
                ports = _worker_ports(worker.pid, urlparse(AMQP).port or 5672)
                closed = await asyncio.to_thread(_close_rabbitmq_connections, ports)
                for n in range(6, 10):
                    skill = "again" if n % 2 else "once"
                    ids[await engine.submit(skill, {"n": n, "seconds": 0})] = skill
                out = {}
                for t, skill in ids.items():
                    r = await engine.wait(t, timeout=120)
                    out[t] = (skill, r.status)
                return out, closed

        ends, closed = arun(go())
        assert closed >= 1
        counts = c.run_counts()
        for task_id, (skill, status) in ends.items():
            assert status is TaskStatus.SUCCEEDED, (task_id, skill, status, c.logs())
            if skill == "once":
                assert counts[task_id] == 1, (task_id, counts)
        assert worker.poll() is None, c.logs()  # it reconnected
        assert "Connection to broker lost" in c.logs()  # what the test did, as seen there
