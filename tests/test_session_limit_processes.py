"""``sessions.max_sessions`` holds for processes that create sessions at the same moment
(CLI users beside a service, several services on one data dir): each counted the open
sessions and then wrote its record, with no lock across processes, and several passed the
limit on one count (6 sessions of a limit of 5)."""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from skillexec.errors import SkillExecError
from skillexec.sessions import SessionsConfig, SessionStore

pytestmark = pytest.mark.timeout(120)
PROCESSES, LIMIT = 16, 3


def _create(tmp: str, limit: dict[str, int], barrier: Barrier, out: Queue[str]) -> None:
    store = SessionStore(root=Path(tmp) / "work" / ".sessions", records=Path(tmp) / "records",
                         settings=SessionsConfig(**limit))
    barrier.wait()
    try:
        out.put(store.create(principal="alice"))
    except SkillExecError as exc:
        out.put(exc.code)


@pytest.mark.parametrize("limit", ["max_sessions", "max_sessions_per_principal"])
def test_processes_creating_at_once_stay_within_the_limit(tmp_path: Path, limit: str) -> None:
    # forkserver: a child forked from a clean single-threaded server, not from this test
    # process, whose other threads (an earlier test's executors) may hold a lock at the fork
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["skillexec.sessions"])
    for round_ in range(12):  # the race is narrow: one round in five lost it here
        tmp = tmp_path / str(round_)
        barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
        procs = [ctx.Process(target=_create, args=(str(tmp), {limit: LIMIT}, barrier, out))
                 for _ in range(PROCESSES)]
        for p in procs:
            p.start()
        answers = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join()
        created = [a for a in answers if a.startswith("s_")]
        assert len(created) == LIMIT, (round_, answers)
        assert len(list((tmp / "records").glob("*.json"))) == LIMIT
        assert {a for a in answers if not a.startswith("s_")} == {
            "too_many_sessions" if limit == "max_sessions" else "too_many_principal_sessions"}
