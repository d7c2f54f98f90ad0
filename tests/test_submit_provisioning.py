"""Submitting a call of a skill whose environment is not made yet answers its task id at once.

``submit`` (and ``submit_script``, the HTTP routes and MCP tools that answer a task id)
installed the skill's packages before answering: an agent that submits and then polls
waited the whole install (minutes for pandas or torch) for an id, and had none to see the
task's status by or to cancel it with. Now the task is journaled ``queued`` and answered,
and its environment is made after: ``status`` says ``queued``, ``events`` tells what is
being installed, ``cancel`` ends it and stops the install (nothing half-installed kept),
its ``timeout`` bounds the wait as before, and a failed install ends it ``rejected``
(``dependency_error``/``install_failed``, the CLI's exit code 2) as it did at acceptance.

A local package index serves the test's wheels, holding back the package pages of the
names it is told to until the test lets them go: an install as slow as the test wants.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.errors import ErrorType
from skillexec.events import TaskEvent
from skillexec.task import TaskStatus
from tests._index import Index, installers_running, serving
from tests._isolation import need_sandbox
from tests._wheels import make_wheel
from tests.conftest import ROOT, arun

pytestmark = pytest.mark.timeout(180)

PKG, MOD = "gatedpkg-sp", "gatedpkg_sp"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))


def skill(root: Path, sid: str, requirement: str, **execution: str) -> None:
    folder = root / "skills" / sid
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps(
        {"id": sid, "version": "1.0.0", "entry_point": "main:execute",
         **({"execution": execution} if execution else {})}))
    module = requirement.replace("-", "_")
    (folder / "main.py").write_text(
        f"def execute(data):\n    import {module}\n    return {module}.VALUE\n")
    (folder / "requirements.txt").write_text(requirement + "\n")


def setup(tmp_path: Path) -> Path:
    wheels = tmp_path / "wheels"
    make_wheel(wheels, PKG, "1.0", "VALUE = 'from the wheel'\n", module=MOD)
    skill(tmp_path, "uses", PKG)
    # Asks to run in the engine's process: with an environment it runs as a child process
    # (its packages must not be imported into the engine), which an operator's ``process``
    # level allows: it was refused, admitted as it was before its environment was made.
    skill(tmp_path, "uses-inline", PKG, isolation="inline")
    skill(tmp_path, "absent-a", "absentpkg-a")  # never in the index
    skill(tmp_path, "absent-b", "absentpkg-b")
    return wheels


def engine(tmp_path: Path, index: Index, **settings: object) -> SkillExecutionEngine:
    return SkillExecutionEngine(config=EngineConfig(
        skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
        environments={"index_url": index.url, "install_timeout_s": 40, "installer": "uv"},
        **settings))  # type: ignore[arg-type]


async def until(check: Callable[[], bool], *, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


async def timed_submit(e: SkillExecutionEngine, sid: str, **options: object) -> str:
    t0 = time.monotonic()
    task_id = await e.submit(sid, {}, **options)  # type: ignore[arg-type]
    took = time.monotonic() - t0
    assert took < 0.5, f"submit took {took:.1f} s: it waited for the install"
    return task_id


def test_submit_answers_at_once_and_the_call_runs_once_its_environment_is_made(
        tmp_path: Path) -> None:
    wheels = setup(tmp_path)
    with serving(wheels, gated=frozenset({PKG})) as index:
        async def go() -> None:
            async with engine(tmp_path, index, isolation={"default_level": "process"}) as e:
                seen: list[TaskEvent] = []

                async def follow() -> None:
                    async for event in e.events():
                        seen.append(event)

                following = asyncio.create_task(follow())
                await asyncio.sleep(0.1)
                first = await timed_submit(e, "uses")
                second = await timed_submit(e, "uses")  # shares the first one's install
                third = await timed_submit(e, "uses-inline")  # and so does another skill's
                ids = {first, second, third}
                await until(lambda: index.was_asked(PKG))  # the install is under way
                for task_id in ids:
                    assert (await e.status(task_id)).status is TaskStatus.QUEUED
                await until(lambda: {ev.task_id for ev in seen if ev.kind == "progress"
                                     and ev.message.startswith("installing 1 package")}
                            == ids, timeout_s=5)
                await asyncio.sleep(1.0)
                assert (await e.status(first)).status is TaskStatus.QUEUED  # still making it
                index.gate.set()
                for task_id in ids:
                    result = await e.wait(task_id, timeout=60)
                    assert result.status is TaskStatus.SUCCEEDED, result.error
                    assert result.output == "from the wheel"
                assert e.environments.installs == 1
                following.cancel()

        arun(go())


def test_cancel_stops_the_install_and_keeps_nothing_of_it(tmp_path: Path) -> None:
    wheels = setup(tmp_path)
    data = tmp_path / "data"
    with serving(wheels, gated=frozenset({PKG})) as index:
        async def go() -> None:
            async with engine(tmp_path, index) as e:
                task_id = await timed_submit(e, "uses")
                await until(lambda: index.was_asked(PKG))
                assert installers_running(data)
                t0 = time.monotonic()
                assert await e.cancel(task_id) is True
                assert time.monotonic() - t0 < 3
                info = await e.status(task_id)
                assert info.status is TaskStatus.CANCELLED
                await until(lambda: not installers_running(data), timeout_s=10)
                await until(lambda: not list((data / "envs").glob(".tmp-*")), timeout_s=10)
                assert not list((data / "envs").glob("*.failed"))  # not a failure
                assert e.environments.installs == 0
                # Nothing was remembered of it: the next call installs afresh, and runs.
                index.gate.set()
                again = await e.execute("uses", {}, timeout=60)
                assert again.status is TaskStatus.SUCCEEDED, again.error
                assert again.output == "from the wheel"

        arun(go())


def test_a_failed_install_ends_the_submitted_task_rejected_as_execute_does(
        tmp_path: Path) -> None:
    wheels = setup(tmp_path)
    with serving(wheels, gated=frozenset({"absentpkg-a"})) as index:
        async def go() -> None:
            async with engine(tmp_path, index) as e:
                task_id = await timed_submit(e, "absent-a")
                await until(lambda: index.was_asked("absentpkg-a"))
                index.gate.set()  # then: not found
                submitted = await e.wait(task_id, timeout=60)
                executed = await e.execute("absent-b", {})
                for r in (submitted, executed):
                    assert r.status is TaskStatus.REJECTED, r
                    assert r.error is not None and r.error.type is ErrorType.DEPENDENCY
                    assert r.error.code == "install_failed", r.error
                    assert r.attempts == 0
                assert "absentpkg-a" in (submitted.error.message if submitted.error else "")

        arun(go())


def test_the_calls_timeout_bounds_the_wait_for_the_install_as_before(
        tmp_path: Path) -> None:
    wheels = setup(tmp_path)
    data = tmp_path / "data"
    with serving(wheels, gated=frozenset({PKG})) as index:
        async def go() -> None:
            async with engine(tmp_path, index) as e:
                t0 = time.monotonic()
                task_id = await timed_submit(e, "uses", timeout=1.5)
                result = await e.wait(task_id, timeout=30)
                assert time.monotonic() - t0 < 10
                assert result.status is TaskStatus.REJECTED
                assert result.error is not None and result.error.code == "install_pending"
                assert result.error.retryable
                assert installers_running(data)  # the install goes on, for the next call
                index.gate.set()
                later = await e.execute("uses", {}, timeout=60)
                assert later.status is TaskStatus.SUCCEEDED, later.error

        arun(go())


def test_a_script_submitted_in_a_session_answers_at_once_and_runs_at_its_turn(
        tmp_path: Path) -> None:
    need_sandbox()
    wheels = setup(tmp_path)
    folder = tmp_path / "skills" / "tools"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: tools\ndescription: t.\n---\nRun.\n")
    (folder / "requirements.txt").write_text(PKG + "\n")
    (folder / "scripts" / "show.py").write_text(f"import {MOD}\nprint({MOD}.VALUE)\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill
    with serving(wheels, gated=frozenset({PKG})) as index:
        async def go() -> None:
            async with engine(tmp_path, index) as e:
                session = e.sessions.create()
                t0 = time.monotonic()
                task_id = await e.submit_script("tools", "scripts/show.py", session=session)
                assert time.monotonic() - t0 < 0.5
                await until(lambda: index.was_asked(PKG))
                assert (await e.status(task_id)).status is TaskStatus.QUEUED
                index.gate.set()
                result = await e.wait(task_id, timeout=60)
                assert result.status is TaskStatus.SUCCEEDED, result.error
                assert "from the wheel" in str(result.output)

        arun(go())


def test_the_script_command_still_exits_2_when_the_install_fails(tmp_path: Path) -> None:
    need_sandbox()
    wheels = setup(tmp_path)
    folder = tmp_path / "skills" / "broken"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: broken\ndescription: t.\n---\nRun.\n")
    (folder / "requirements.txt").write_text("absentpkg-c\n")
    (folder / "scripts" / "go.py").write_text("print('never')\n")
    os.chmod(tmp_path, 0o755)
    with serving(wheels) as index:
        r = subprocess.run(
            [sys.executable, "-m", "skillexec", "script", "broken", "scripts/go.py",
             "--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data")],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src"),
                 "SKILLEXEC_ENVIRONMENTS__INDEX_URL": index.url,
                 "SKILLEXEC_ENVIRONMENTS__INSTALLER": "uv"})
    assert r.returncode == 2, r.stderr
    assert "rejected" in r.stderr and "absentpkg-c" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
