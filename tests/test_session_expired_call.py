"""A call into a session whose TTL has passed is refused and the session removed, as get()
refuses it: the call's own turn registered the session as in use before the expiry was
judged, so the expired session was kept, the call ran and its use brought the session back
(until the sweeper, every minute, happened to run first)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from skillexec.errors import SkillExecError
from skillexec.sessions import SessionsConfig, SessionStore
from tests.conftest import arun


def store(tmp_path: Path) -> SessionStore:
    return SessionStore(root=tmp_path / "work" / ".sessions", records=tmp_path / "sessions",
                        settings=SessionsConfig())


def test_a_turn_in_an_expired_session_is_refused(tmp_path: Path) -> None:
    sessions = store(tmp_path)
    sid = sessions.create(ttl_s=0.2)
    folder = sessions.path(sid)

    async def go() -> None:
        async with sessions.turn(sid):
            (folder / "one.txt").write_text("1")
        time.sleep(0.4)  # its TTL passes; no sweep runs
        with pytest.raises(SkillExecError) as refused:
            async with sessions.turn(sid):
                (folder / "two.txt").write_text("2")  # never reached
        assert refused.value.code == "session_not_found"
        assert "TTL has passed" in refused.value.message

    arun(go())
    assert not folder.exists()  # removed, not revived
    assert sessions.list() == []
    assert not list((tmp_path / "sessions").glob("*.json"))


def test_a_call_running_keeps_its_session_for_the_call_in_line(tmp_path: Path) -> None:
    """The call next in line after a running call is not refused: the running call's end
    marks a use, whatever the TTL (shorter than the call)."""
    sessions = store(tmp_path)
    sid = sessions.create(ttl_s=0.2)

    async def first() -> None:
        async with sessions.turn(sid) as folder:
            await asyncio.sleep(0.4)  # past the TTL while it runs
            (folder / "a.txt").write_text("a")

    async def second() -> str:
        await asyncio.sleep(0.05)
        async with sessions.turn(sid) as folder:
            return sorted(p.name for p in folder.iterdir())[0]

    async def go() -> str:
        return (await asyncio.gather(first(), second()))[1]

    assert arun(go()) == "a.txt"
