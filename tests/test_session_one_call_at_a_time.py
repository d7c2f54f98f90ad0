"""One call at a time in a session's folder, however the call came: a call of the script's
skill id (``engine.execute``, HTTP batch-execute, a replay) took no turn, and a call of
another process (the CLI beside ``serve``) took its own process's turn only. The calls
overlapped: one's files were saved as the other's artifacts, the later one's hand-over of
the folder to its uid made the running one fail with EACCES in its own workspace, and a
sweep removed the folder under a direct call whose TTL passed while it ran."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.task import ExecutionResult, TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import arun

pytestmark = pytest.mark.timeout(120)

_SLEEP = """\
import os, sys, time
pause, tag = float(sys.argv[1]), sys.argv[2]
open(f"start-{tag}", "w").write(str(time.time()))
time.sleep(pause)
open(f"end-{tag}", "w").write(str(time.time()))
print(tag, sorted(os.listdir(".")))
"""


@pytest.fixture(autouse=True)
def _sandbox() -> None:
    need_sandbox()


def _skills(tmp_path: Path) -> Path:
    skills = tmp_path / "skills"
    (skills / "nap" / "scripts").mkdir(parents=True)
    (skills / "nap" / "SKILL.md").write_text("---\nname: nap\ndescription: naps\n---\n\nx\n")
    (skills / "nap" / "scripts" / "sleep.py").write_text(_SLEEP)
    return skills


def _named(r: ExecutionResult) -> list[str]:
    assert r.status is TaskStatus.SUCCEEDED, r.error
    return sorted(a.name for a in r.artifacts)


def test_a_direct_call_of_the_scripts_id_waits_for_the_call_in_the_session(
        tmp_path: Path) -> None:
    async def go() -> tuple[ExecutionResult, ExecutionResult, Path]:
        async with SkillExecutionEngine(skills_dir=_skills(tmp_path),
                                        data_dir=tmp_path / "data") as e:
            sid = e.sessions.create()
            a = asyncio.create_task(e.run_script("nap", "scripts/sleep.py", args=["1.5", "A"],
                                                 session=sid))
            await asyncio.sleep(0.5)
            b = await e.execute("nap:scripts/sleep.py", {"args": ["0", "B"], "session": sid})
            return await a, b, e.sessions.path(sid)

    a, b, folder = arun(go())
    assert _named(a) == ["end-A", "start-A"]  # B's files are not A's output
    assert _named(b) == ["end-B", "start-B"]
    assert float((folder / "start-B").read_text()) >= float((folder / "end-A").read_text())


def test_a_direct_call_keeps_its_session_from_a_sweep_and_marks_its_use(
        tmp_path: Path) -> None:
    async def go() -> tuple[ExecutionResult, list[str], list[str]]:
        async with SkillExecutionEngine(skills_dir=_skills(tmp_path),
                                        data_dir=tmp_path / "data") as e:
            sid = e.sessions.create(ttl_s=1)
            call = asyncio.create_task(e.execute("nap:scripts/sleep.py",
                                                 {"args": ["2", "B"], "session": sid}))
            await asyncio.sleep(1.5)  # its TTL passes while it runs
            during = [i.id for i in await e.sessions.alist()]  # a sweep
            r = await call
            return r, during, [i.id for i in await e.sessions.alist()]

    r, during, after = arun(go())
    assert _named(r) == ["end-B", "start-B"]
    assert len(during) == 1 and after == during  # its end was a use: not expired


def test_a_call_of_another_process_waits_for_the_running_one(tmp_path: Path) -> None:
    skills, data = _skills(tmp_path), tmp_path / "data"

    async def go() -> tuple[ExecutionResult, subprocess.CompletedProcess[str], Path]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=data) as e:
            sid = e.sessions.create()
            a = asyncio.create_task(e.run_script("nap", "scripts/sleep.py", args=["8", "A"],
                                                 session=sid))
            await asyncio.sleep(0.3)
            while not (e.sessions.path(sid) / "start-A").exists():
                await asyncio.sleep(0.05)
            cli = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "skillexec", "script", "nap",
                                 "scripts/sleep.py", "0", "B", "--session", sid,
                                 "--skills-dir", str(skills), "--data-dir", str(data)],
                capture_output=True, text=True, timeout=90)
            return await a, cli, e.sessions.path(sid)

    started = time.monotonic()
    a, cli, folder = arun(go())
    assert cli.returncode == 0, cli.stderr
    assert _named(a) == ["end-A", "start-A"]  # it ran to its end, its files its own
    saved = sorted(line.split(": ")[1].split(" ")[0]
                   for line in (cli.stdout + cli.stderr).splitlines()
                   if line.startswith("artifact "))
    assert saved == ["end-B", "start-B"], cli.stdout + cli.stderr  # A's files are not B's
    assert float((folder / "start-B").read_text()) >= float((folder / "end-A").read_text())
    assert time.monotonic() - started < 60
