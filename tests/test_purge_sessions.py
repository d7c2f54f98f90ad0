"""A principal's purge closes its sessions: their records (its name) and their folders
(files its calls were given or made, never encrypted, so a destroyed data key does not
cover them) stayed, listed as its, until their TTL passed (up to a day after last use)."""

from __future__ import annotations

import time
from pathlib import Path

from skillexec import SkillExecutionEngine
from tests.conftest import arun


def test_a_principals_purge_closes_its_sessions(tmp_path: Path) -> None:
    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "data") as e:
            alice = e.sessions.create(principal="alice")
            bob = e.sessions.create(principal="bob")
            mine = e.sessions.create()  # local's
            folder = e.sessions.path(alice)
            (folder / "medical.txt").write_text("confidential")  # as her script made it
            done = await e.purge(principal="alice")
            assert done.sessions == 1 and done.to_dict()["sessions"] == 1
            assert not folder.exists()
            assert sorted(i.id for i in e.sessions.list()) == sorted([bob, mine])
            assert e.sessions.list(principal="alice") == []
            # the tasks run without a principal (--anonymous): local's sessions
            assert (await e.purge(principal=None)).sessions == 1
            assert [i.id for i in e.sessions.list()] == [bob]

    arun(go())


def test_a_purge_before_a_date_closes_the_sessions_last_used_before_it(tmp_path: Path,
                                                                       ) -> None:
    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "data") as e:
            old = e.sessions.create(principal="alice")
            time.sleep(0.05)
            cutoff = time.time()
            time.sleep(0.05)
            new = e.sessions.create(principal="alice")
            done = await e.purge(principal="alice", before=cutoff)
            assert done.sessions == 1
            assert [i.id for i in e.sessions.list()] == [new]
            assert not (e.sessions.root / old).exists()

    arun(go())
