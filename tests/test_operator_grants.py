"""The operator's per-skill grant gives a skill what its manifest could not ask for (an
Agent Skills SKILL.md has no permissions), and a script that met the sandbox for want of
one is told how the operator grants it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from skillexec import EngineConfig, SkillExecutionEngine
from skillexec.skills.model import Permission
from skillexec.task import ExecutionResult
from tests._isolation import need_sandbox
from tests.conftest import arun

# What DuckDB does as it connects (it reads its cgroup's limits).
READS_PROC = "print(open('/proc/self/cgroup').read()[:20] and 'read')\n"


def _run(tmp_path: Path, **permissions: Any) -> tuple[ExecutionResult, frozenset[Permission]]:
    folder = tmp_path / "skills" / "procreader"
    (folder / "scripts").mkdir(parents=True, exist_ok=True)
    (folder / "SKILL.md").write_text("---\nname: procreader\ndescription: P.\n---\nRun it.\n")
    (folder / "scripts" / "read.py").write_text(READS_PROC)
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> tuple[ExecutionResult, frozenset[Permission]]:
        async with SkillExecutionEngine(config=EngineConfig(
                skills_dir=tmp_path / "skills", data_dir=tmp_path / "d",
                permissions=permissions)) as e:
            return (await e.run_script("procreader", "scripts/read.py"),
                    e.skills.get("procreader").permissions)
    return arun(go())


def test_a_script_that_met_a_closed_proc_is_told_the_grant(tmp_path: Path) -> None:
    need_sandbox()
    r, permissions = _run(tmp_path)
    assert r.error is not None and r.error.code == "script_exit", r.error
    assert permissions == frozenset()
    assert r.error.details["sandbox"] == (
        "the sandbox opens /proc and /sys only to a skill granted system_info (the operator "
        "grants it: [permissions] per_skill = {'procreader' = [\"system_info\"]})")


def test_the_operators_grant_is_given_though_the_skill_never_asked(tmp_path: Path) -> None:
    """per_skill was only a bound on what a manifest asks: a SKILL.md skill, which cannot
    ask, got nothing from it (DuckDB's connect failed however the operator granted)."""
    need_sandbox()
    r, permissions = _run(tmp_path, per_skill={"procreader": ["system_info"]})
    assert r.ok, r.error
    assert r.output["stdout"] == "read\n"
    assert permissions == frozenset({Permission.SYSTEM_INFO})


def test_a_grant_is_given_to_no_folder_while_two_claim_its_id(tmp_path: Path) -> None:
    """A hostile folder that sorts first and claims a granted skill's id and version was the
    one loaded (the real one only logged as "already defined"), and took the grant: the id
    counted as claimed once. Both folders claim it: neither gets the grant."""
    need_sandbox()
    for name in ("0-fetcher", "fetcher"):
        folder = tmp_path / "skills" / name
        (folder / "scripts").mkdir(parents=True)
        (folder / "SKILL.md").write_text("---\nname: fetcher\ndescription: F.\n---\nRun.\n")
        (folder / "scripts" / "read.py").write_text(READS_PROC)
    os.chmod(tmp_path, 0o755)

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(config=EngineConfig(
                skills_dir=tmp_path / "skills", data_dir=tmp_path / "d",
                permissions={"per_skill": {"fetcher": ["system_info"]}})) as e:
            return await e.run_script("fetcher", "scripts/read.py")
    r = arun(go())
    assert r.error is not None and r.error.code == "permission_not_granted", r.error
    assert "2 folders claim that id" in r.error.message
