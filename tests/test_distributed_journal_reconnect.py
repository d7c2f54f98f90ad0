"""A shared PostgreSQL journal whose connections the server drops keeps every end: the
journal's writer connection, idle while skills run, closed by the server
(``idle_session_timeout``, as many managed PostgreSQLs set it; a pooler's idle cut or a
failover does the same), is replaced and its batch sent again, and a worker whose end the
journal could not take at all (the database away for a moment) keeps its claim and writes
the end once it is back. A finished run used to end ``interrupted`` (its result lost), an
idempotent one to run again until ``worker_lost``, and a submission after an idle spell to
fail. Real PostgreSQL, Redis and ``skillexec worker`` processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from tests._distributed import PG_ADMIN, REDIS, Cluster, wait_until
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="8",
                          heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="30")


def _name(c: Cluster) -> str:
    return urlparse(c.env["SKILLEXEC_DISTRIBUTED__DATABASE_URL"]).path.lstrip("/")


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def _ends(c: Cluster, ids: list[str], *, seconds: float) -> list[tuple[TaskStatus, str | None]]:
    async def go() -> list[tuple[TaskStatus, str | None]]:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            out = []
            for task_id in ids:
                r = await engine.wait(task_id, timeout=seconds)
                out.append((r.status, r.error.code if r.error else None))
            return out
    return arun(go())


def test_a_submission_after_the_server_closed_the_idle_connection_is_written(
        cluster: Cluster) -> None:
    c = cluster
    # (Longer than a second: the read pool's check backs off ~1 s between connections it
    # finds dead, and with a shorter timeout each idles out before its turn.)
    _admin(f"ALTER DATABASE {_name(c)} SET idle_session_timeout = '2s'")

    async def go() -> list[str]:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            first = await engine.submit("again", {"n": 1})
            await asyncio.sleep(2.5)  # the server closes the writer's connection meanwhile
            return [first, await engine.submit("again", {"n": 2})]

    ids = arun(go())
    c.start_worker(2)
    assert _ends(c, ids, seconds=60) == [(TaskStatus.SUCCEEDED, None)] * 2, c.logs()


def test_a_finished_run_keeps_its_end_when_the_workers_connection_idled_out(
        cluster: Cluster) -> None:
    c = cluster
    _admin(f"ALTER DATABASE {_name(c)} SET idle_session_timeout = '2s'")
    c.start_worker(2)

    async def go() -> list[str]:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            return [await engine.submit("once", {"n": 1, "seconds": 3}),
                    await engine.submit("again", {"n": 2, "seconds": 3})]

    ids = arun(go())
    ends = _ends(c, ids, seconds=90)
    assert ends == [(TaskStatus.SUCCEEDED, None)] * 2, c.logs()
    assert [c.run_counts()[t] for t in ids] == [1, 1], c.logs()


def test_an_end_the_journal_could_not_take_is_written_once_the_database_is_back(
        cluster: Cluster) -> None:
    c = cluster
    name = _name(c)
    c.start_worker(1)

    async def go() -> str:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            return await engine.submit("once", {"n": 1, "seconds": 2})

    task_id = arun(go())
    wait_until(lambda: c.run_counts()[task_id] == 1, 60, "the run started")
    time.sleep(1.0)
    # The database away across the run's end: no connection of the worker's survives,
    # and no new one is let in for 2.5 s (the journal's own retry on a new connection
    # fails too); it is back well within the lease (8 s).
    _admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
    try:
        _admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               f"WHERE datname = '{name}'")
        time.sleep(2.5)
    finally:
        _admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    assert _ends(c, [task_id], seconds=60) == [(TaskStatus.SUCCEEDED, None)], c.logs()
    assert c.run_counts()[task_id] == 1
    assert "trying again" in c.logs()
