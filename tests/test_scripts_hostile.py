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


def test_a_script_leaves_nothing_for_a_later_call(tmp_path: Path) -> None:
    """Whatever a script leaves in its workspace (files and folders, an attribute on the
    folder, its mode opened or locked, a daemon writing after the call answered), no later
    call finds it, of its own skill or of another. An empty workspace is kept for its
    skill's next call (no mkdir, no rmdir on the path) only once every process of the
    call is gone, and only if it is still an empty 0700 folder, the engine's again;
    anything else is removed, as a workspace always was."""
    import shutil

    skills = tmp_path / "skills"
    shutil.copytree(HOSTILE / "workspace_planter", skills / "workspace_planter")
    other = skills / "workspace_looker"
    (other / "scripts").mkdir(parents=True)
    (other / "skill.json").write_text((skills / "workspace_planter" / "skill.json").read_text()
                                      .replace("workspace_planter", "workspace_looker"))
    shutil.copy(skills / "workspace_planter" / "scripts" / "look.py", other / "scripts")
    for path in (tmp_path, *skills.rglob("*")):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    hows = ("files", "attributes", "empty-attribute", "locked", "daemon", "tmp-files",
            "tmp-attributes", "tmp-link", "tmp-daemon")

    async def go() -> tuple[list[dict[str, object]], list[tuple[int, str]], bool]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            environment = e._pipeline.attempts.environment

            async def look(skill: str = "workspace_planter") -> dict[str, object]:
                r = await e.run_script(skill, "scripts/look.py")
                assert r.status is TaskStatus.SUCCEEDED, r.error
                await environment.recycled()
                seen: dict[str, object] = json.loads(r.output["stdout"])
                return seen

            looks = [await look(), await look(), await look("workspace_looker")]
            planted: list[tuple[int, str]] = []
            for how in hows:
                # Its own success is not the point (the sandbox may refuse some of it).
                r = await e.run_script("workspace_planter", "scripts/plant.py", args=[how])
                await environment.recycled()
                if "daemon" not in how and r.output and r.output["stdout"]:  # (may write none)
                    planted.append((len(looks),
                                    json.loads(r.output["stdout"].splitlines()[0])["cwd"]))
                looks += [await look(), await look("workspace_looker")]
            runner = e._pipeline.runners["sandbox"]
            return looks, planted, getattr(runner, "zygotes").cgroups is not None
    looks, planted, settled = arun(go())
    for seen in looks:
        # Nothing but its own TMPDIR, made as it starts (see _child_request).
        assert seen["entries"] == [".tmp"] and seen["mode"] == "0o700" \
            and seen["xattrs"] == [], seen
        assert seen["tmp"] == {"dir": True, "mode": "0o700", "uid": seen["uid"],
                               "entries": [], "xattrs": []}, seen
    # A workspace something was left in is never handed out again.
    assert planted and all(cwd not in {s["cwd"] for s in looks[after:]}
                           for after, cwd in planted), (planted, looks)
    if settled:  # where the runner can tell its processes are gone: a spare, kept
        assert looks[0]["cwd"] == looks[1]["cwd"], looks[:2]
