"""``engine.submit_script`` (DESIGN §4.3): a bundled script submitted without waiting, its
task id answered once the journal holds it, then followed with wait, status, events and
cancel; in a session it still takes its turn (one call at a time, in submit order)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.task import TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import FIXTURES, arun

SKILLS = FIXTURES / "scripts"
PDF = "pdf-forms"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _sandbox() -> None:
    need_sandbox()


def engine(tmp_path: Path) -> SkillExecutionEngine:
    return SkillExecutionEngine(skills_dir=SKILLS, data_dir=tmp_path / "data")


def marked(token: str) -> list[int]:
    """The processes whose argv carries ``token`` (pid namespaces aside: /proc is the
    host's view)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in argv and state != "Z":
            found.append(int(pid))
    return found


async def until(check: object, *, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)


def test_submit_script_answers_an_id_to_follow_to_the_result(tmp_path: Path) -> None:
    async def go() -> None:
        async with engine(tmp_path) as e:
            task_id = await e.submit_script(PDF, "scripts/make_files.py", args=["2", "5"])
            assert (await e.status(task_id)).task_id == task_id  # the journal holds it
            kinds = [ev.kind async for ev in e.events(task_id)]
            result = await e.wait(task_id, timeout=60)
            assert result.status is TaskStatus.SUCCEEDED, result.error
            assert result.skill_id == f"{PDF}:scripts/make_files.py"
            assert sorted(a.name for a in result.artifacts) == ["made/f0.bin", "made/f1.bin"]
            assert kinds and kinds[-1] == "status"
            refused = await e.submit_script(PDF, "../outside.py")
            bad = await e.wait(refused)
            assert bad.status is TaskStatus.REJECTED and bad.error is not None
            assert bad.error.code == "script_outside_skill"
    arun(go())


def test_submitted_scripts_in_one_session_run_one_after_the_other_in_order(
        tmp_path: Path) -> None:
    async def go() -> str:
        async with engine(tmp_path) as e:
            sid = e.sessions.create()
            ids = [await e.submit_script(PDF, "scripts/slow.py", args=[tag, "0.3"],
                                         session=sid) for tag in ("a", "b", "c")]
            # a call that waits comes after them, and a submitted one after it
            waited = asyncio.ensure_future(
                e.run_script(PDF, "scripts/slow.py", args=["d", "0.1"], session=sid))
            await asyncio.sleep(0)
            ids.append(await e.submit_script(PDF, "scripts/slow.py", args=["e", "0"],
                                             session=sid))
            results = [await e.wait(t, timeout=60) for t in ids] + [await waited]
            assert all(r.status is TaskStatus.SUCCEEDED for r in results), \
                [r.error for r in results]
            return (e.sessions.path(sid) / "order.txt").read_text()
    assert arun(go()) == "a><a\nb><b\nc><c\nd><d\ne><e\n"


def test_cancelling_a_submitted_script_ends_its_process_tree(tmp_path: Path) -> None:
    token = f"tree-{uuid.uuid4().hex}"

    async def go() -> None:
        async with engine(tmp_path) as e:
            sid = e.sessions.create()
            task_id = await e.submit_script(PDF, "scripts/spawn_tree.py", args=[token],
                                            session=sid)
            # the next call in the session waits for it, held out of the queue
            behind = await e.submit_script(PDF, "scripts/slow.py", args=["after", "0"],
                                           session=sid)
            await until(lambda: bool(marked(token)))  # the script's child (its own argv is
            # its warm parent's)
            assert (await e.status(behind)).status is TaskStatus.QUEUED
            assert await e.cancel(task_id) is True
            result = await e.wait(task_id, timeout=30)
            assert result.status is TaskStatus.CANCELLED
            await until(lambda: not marked(token))
            after = await e.wait(behind, timeout=60)  # its turn came once the first ended
            assert after.status is TaskStatus.SUCCEEDED, after.error
            # one cancelled while it waits for its turn ends at once, and never runs
            blocker = await e.submit_script(PDF, "scripts/slow.py", args=["x", "30"],
                                            session=sid)
            waiting = await e.submit_script(PDF, "scripts/slow.py", args=["never", "0"],
                                            session=sid)
            assert await e.cancel(waiting) is True
            assert (await e.wait(waiting, timeout=5)).status is TaskStatus.CANCELLED
            await e.cancel(blocker)
            await e.wait(blocker, timeout=30)
            assert "never" not in (e.sessions.path(sid) / "order.txt").read_text()
    arun(go())


def test_a_submitted_script_whose_session_closed_ends_with_the_session_error(
        tmp_path: Path) -> None:
    async def go() -> None:
        async with engine(tmp_path) as e:
            closed = e.sessions.create()
            assert e.sessions.close(closed)
            gone = await e.wait(await e.submit_script(PDF, "scripts/noop.py", session=closed))
            assert gone.status is TaskStatus.REJECTED and gone.error is not None
            assert gone.error.code == "session_not_found"
            # closed while the submitted call waited for its turn
            sid = e.sessions.create()
            first = await e.submit_script(PDF, "scripts/slow.py", args=["a", "1"],
                                          session=sid)
            second = await e.submit_script(PDF, "scripts/noop.py", session=sid)
            assert (await e.status(second)).status is TaskStatus.QUEUED
            order = e.sessions.path(sid) / "order.txt"
            await until(order.exists)  # the first runs: the session is closed under it
            assert e.sessions.close(sid)
            late = await e.wait(second, timeout=30)
            assert late.status is TaskStatus.REJECTED and late.error is not None
            assert late.error.code == "session_not_found"
            assert (await e.wait(first, timeout=30)).status is TaskStatus.SUCCEEDED
    arun(go())


def test_submitted_scripts_left_at_close_stay_in_the_journal(tmp_path: Path) -> None:
    """Closing with a submitted script still waiting for its session's turn: it stays
    queued in the journal (as any queued task), and the next engine runs it."""
    async def go() -> str:
        async with engine(tmp_path) as e:
            sid = e.sessions.create()
            running = await e.submit_script(PDF, "scripts/slow.py", args=["a", "2"],
                                            session=sid)
            held = await e.submit_script(PDF, "scripts/slow.py", args=["b", "0"],
                                         session=sid)
            await until(lambda: (e.sessions.path(sid) / "order.txt").exists())
            await e.close(grace_s=0.1)
        async with engine(tmp_path) as again:
            end = await again.wait(held, timeout=60)
            assert end.status is TaskStatus.SUCCEEDED, end.error
            first = await again.status(running)
            assert first.status.terminal
            return (again.sessions.path(sid) / "order.txt").read_text()
    assert "b><b" in arun(go())
