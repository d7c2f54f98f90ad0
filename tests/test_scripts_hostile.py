"""Hostile bundled scripts (tests/hostile/script_reader): in the sandbox a script reads
neither the engine's data directory (journal, session records, artifacts) nor another
session's folder, reaches no network, and leaves nothing running."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psutil
import pytest

from skillexec import SkillExecutionEngine
from skillexec.task import ExecutionResult, TaskStatus
from tests._isolation import HOSTILE, need_sandbox
from tests.conftest import arun

pytestmark = pytest.mark.timeout(120)
SKILL = "script_reader"


@pytest.fixture(autouse=True)
def _sandbox() -> None:
    need_sandbox()


def test_a_script_reads_no_engine_file_and_no_other_session(tmp_path: Path) -> None:
    data = tmp_path / "data"
    os.chmod(tmp_path, 0o755)

    async def go() -> tuple[ExecutionResult, ExecutionResult, str, str]:
        async with SkillExecutionEngine(skills_dir=HOSTILE, data_dir=data) as e:
            mine, theirs = e.sessions.create(), e.sessions.create()
            await e.run_script(SKILL, "scripts/list_dirs.py", session=theirs,
                               files={"their-secret.txt": b"theirs"})
            other = e.sessions.path(theirs)
            targets = [str(data / "journal.db"), str(data / "sessions" / f"{theirs}.json"),
                       str(other / "their-secret.txt"), "/etc/shadow"]
            read = await e.run_script(SKILL, "scripts/read_paths.py", args=targets,
                                      session=mine)
            listed = await e.run_script(SKILL, "scripts/list_dirs.py", session=mine,
                                        args=[str(data), str(data / "sessions"), str(other),
                                              str(other.parent)])
            return read, listed, mine, theirs
    read, listed, _, theirs = arun(go())
    assert read.status is TaskStatus.SUCCEEDED, read.error
    got = json.loads(read.output["stdout"])
    assert all(str(v).startswith("denied") for v in got.values()), got
    assert listed.status is TaskStatus.SUCCEEDED, listed.error
    seen = json.loads(listed.output["stdout"])
    for path, entries in seen.items():
        # Where a folder is visible at all, nothing of the engine's or of another session
        # is in it (its own session may be).
        assert isinstance(entries, str) or not (
            {"journal.db", f"{theirs}.json", "their-secret.txt", theirs} & set(entries)), \
            (path, entries)


def test_a_bash_script_reaches_no_network_and_leaves_nothing_behind(tmp_path: Path) -> None:
    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=HOSTILE, data_dir=tmp_path / "d") as e:
            return await e.run_script(SKILL, "scripts/spawn_shell.sh", timeout=20)
    r = arun(go())
    assert r.status is TaskStatus.SUCCEEDED, r.error
    assert "no network" in r.output["stdout"]
    time.sleep(0.5)
    left = [p for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] and p.info["cmdline"][:2] == ["sleep", "297.531"]]
    assert not left
