"""Two engines (two processes: a `skillexec script` and a `skillexec sessions list`, or a
`serve`) on one data directory: a session a call is using is in use for both."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from skillexec.sessions import SessionsConfig, SessionStore
from tests.conftest import arun


def store(tmp_path: Path) -> SessionStore:
    return SessionStore(root=tmp_path / "work" / ".sessions", records=tmp_path / "sessions",
                        settings=SessionsConfig())


def test_a_session_in_use_elsewhere_is_not_swept_under_its_call(tmp_path: Path) -> None:
    """The other process's sweep (any engine's start, `sessions list`, `sessions show`)
    removed the folder of a session whose TTL had passed since its last use while a call
    was running in it: the script's next write failed (FileNotFoundError)."""
    running, other = store(tmp_path), store(tmp_path)
    sid = running.create(ttl_s=0.2)

    async def go() -> None:
        async with running.turn(sid) as folder:
            (folder / "a.txt").write_text("1")
            await asyncio.sleep(0.4)  # the TTL passes while the call runs
            assert other.sweep() == 0
            assert [i.id for i in other.list()] == [sid]
            assert other.get(sid).files == 1  # not removed as expired either
            (folder / "b.txt").write_text("2")
        assert folder.is_dir()

    arun(go())
    time.sleep(0.3)  # its last use was the call's end: now it has expired
    assert other.list() == []
    with pytest.raises(Exception, match="not open"):
        running.path(sid)
    assert not list((tmp_path / "sessions").iterdir())  # nothing left of it
