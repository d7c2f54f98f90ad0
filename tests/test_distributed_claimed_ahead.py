"""Distributed mode: tasks a worker claimed ahead of its slots (``claim_ahead_s``) and that
never started there are not failed when the worker goes. Killed (SIGKILL), the reaper
publishes them again, non-idempotent or not, since the journal says they never started;
stopped (SIGTERM), the worker gives them back at once instead of starting them in its grace
period and cancelling them at its end. Real PostgreSQL, Redis and ``skillexec worker``
processes."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from tests._distributed import REDIS, Cluster, wait_until
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
_N = 4  # non-idempotent tasks of one message: one runs, the rest wait behind it


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="2",
                          heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="60",
                          shutdown_grace_s="1")


def _stop_first_worker(c: Cluster, sig: signal.Signals) -> dict[str, tuple[str, str | None]]:
    """One worker of one slot claims ``_N`` 3 s tasks of one message (a no-op first taught
    it that tasks are quick); once the first runs, it gets ``sig`` and a second worker
    starts. Each task's end: (status, error code)."""
    first = c.start_worker(1)
    c.wait_consuming()

    async def go() -> dict[str, tuple[str, str | None]]:
        async with SkillExecutionEngine(skills_dir=c.skills, data_dir=c.data) as engine:
            await engine.wait(await engine.submit("again", {"n": 0}), timeout=30)
            ids = await asyncio.gather(*(engine.submit("once", {"n": n, "seconds": 3})
                                         for n in range(_N)))
            await asyncio.to_thread(wait_until, lambda: len(c.run_counts()) >= 2, 30,
                                    "the first task running")
            await asyncio.sleep(0.3)
            first.send_signal(sig)
            await asyncio.to_thread(first.wait, 30)
            c.start_worker(_N)
            out: dict[str, tuple[str, str | None]] = {}
            for t in ids:
                r = await engine.wait(t, timeout=60)
                out[t] = (r.status.value, r.error.code if r.error else None)
            return out

    return arun(go())


def _check(c: Cluster, ends: dict[str, tuple[str, str | None]], stopped: tuple[str, str]
           ) -> None:
    runs = c.run_counts()
    started_first = [t for t in ends if runs[t] and ends[t] == stopped]
    assert len(started_first) == 1, (ends, runs, c.logs())
    waited = [t for t in ends if t not in started_first]
    # Never started on the stopped worker: each ran once, on the next one.
    assert [ends[t] for t in waited] == [("succeeded", None)] * (_N - 1), (ends, c.logs())
    assert all(runs[t] == 1 for t in ends), (runs, c.logs())


def test_a_killed_workers_claims_that_never_started_run_elsewhere(cluster: Cluster) -> None:
    ends = _stop_first_worker(cluster, signal.SIGKILL)
    _check(cluster, ends, ("failed", "interrupted"))


def test_a_stopped_worker_gives_back_what_waited_at_once(cluster: Cluster) -> None:
    ends = _stop_first_worker(cluster, signal.SIGTERM)
    _check(cluster, ends, ("cancelled", "cancelled"))
