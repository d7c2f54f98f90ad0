"""The workspace quotas count what a script writes at any depth: the measure behind them
(the running check, and a session's folder after each call) did not enter a folder deeper
than 48 levels, so 200 MiB at depth 60 passed a session quota of 2 MiB, the session stayed
open and took more calls, and a running script filling the disk there was never stopped."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.runtime.workspace import measure_tree, remove_tree
from skillexec.task import ExecutionResult, TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import arun

pytestmark = pytest.mark.timeout(120)

_DEEP = """\
import os, sys, time
depth, mib, pause = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
path = "/".join(["d"] * depth)
os.makedirs(path)
for i in range(mib):  # one file a MiB: each far under the cap of one artifact
    with open(f"{path}/part{i}.bin", "wb") as f:
        f.write(os.urandom(1 << 20))
time.sleep(pause)
print("wrote", mib, "MiB at depth", depth)
"""


def _chain(top: Path, depth: int) -> int:
    """Folders ``depth`` levels deep under ``top`` (made through descriptors: no path grows
    past PATH_MAX), a MiB file at the bottom; returns how many entries it made."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for i in range(depth):
        os.mkdir("d", dir_fd=fd)
        if i % 10 == 0:
            os.mkdir("side", dir_fd=fd)  # a folder left to climb back to, every 10 levels
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    out = os.open("big.bin", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd)
    os.write(out, os.urandom(1 << 20))
    os.close(out)
    os.close(fd)
    return depth + (depth + 9) // 10 + 1


@pytest.mark.parametrize("depth", [5, 60, 2000])
def test_the_measure_counts_every_level(tmp_path: Path, depth: int) -> None:
    top = tmp_path / "w"
    top.mkdir()
    made = _chain(top, depth)
    try:
        usage = measure_tree(str(top), max_files=10**6, max_bytes=1 << 40)
        assert usage.complete and usage.files == made
        assert usage.bytes >= 1 << 20  # the file at the bottom is counted
        past = measure_tree(str(top), max_files=10**6, max_bytes=1 << 19)
        assert not past.complete  # over the limit: it says so
        # the tree is left as it was (nothing moved up, as the removal does)
        assert sorted(os.listdir(top)) == ["d", "side"]
    finally:
        remove_tree(str(top))  # (pytest's own cleanup recurses: too deep for it)


def _skill(skills: Path) -> None:
    (skills / "deep" / "scripts").mkdir(parents=True)
    (skills / "deep" / "SKILL.md").write_text(
        "---\nname: deep\ndescription: writes far down\n---\n\nx\n")
    (skills / "deep" / "scripts" / "deep.py").write_text(_DEEP)


def test_a_session_written_deep_past_its_quota_is_closed(tmp_path: Path) -> None:
    """3 MiB at depth 60 against 1 MiB: the call ends over the session's quota (stopped by
    the running check, well before its pause ends), and the session is closed."""
    need_sandbox()
    _skill(tmp_path / "skills")
    config = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
                          sessions={"max_bytes": 1 << 20})

    async def go() -> tuple[ExecutionResult, float, ExecutionResult, Path, list[str]]:
        async with SkillExecutionEngine(config=config) as e:
            sid = e.sessions.create()
            folder = e.sessions.path(sid)
            started = time.monotonic()
            r = await e.run_script("deep", "scripts/deep.py", args=["60", "3", "60"],
                                   session=sid, timeout=90)
            took = time.monotonic() - started
            again = await e.run_script("deep", "scripts/deep.py", args=["60", "1", "0"],
                                       session=sid)
            return r, took, again, folder, [s.id for s in e.sessions.list()]

    r, took, again, folder, listed = arun(go())
    assert r.status is TaskStatus.FAILED and r.error is not None
    assert r.error.code == "session_quota_exceeded", r.error
    assert took < 30, took  # stopped while it ran, not at its end (a minute on)
    assert again.error is not None and again.error.code == "session_not_found", again.error
    assert listed == [] and not folder.exists()


def test_a_running_script_writing_deep_is_stopped(tmp_path: Path) -> None:
    """The running check of an ordinary workspace (max_workspace_bytes) stops a script
    that writes past it at depth 60 within seconds, not at its timeout."""
    need_sandbox()
    _skill(tmp_path / "skills")
    config = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
                          quotas={"max_workspace_bytes": 2 << 20})

    async def go() -> tuple[ExecutionResult, float]:
        async with SkillExecutionEngine(config=config) as e:
            started = time.monotonic()
            r = await e.run_script("deep", "scripts/deep.py", args=["60", "4", "60"],
                                   timeout=90)
            return r, time.monotonic() - started

    r, took = arun(go())
    assert r.status is TaskStatus.FAILED and r.error is not None
    assert r.error.code == "workspace_quota_exceeded", r.error
    assert took < 30, took
