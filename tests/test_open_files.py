"""How many files an isolated attempt may hold open (``limits.max_open_files``, its
RLIMIT_NOFILE): a shell's usual 1024 by default, the operator's to set, and a script that
runs out is told so (Node reported a module it could not open as one it cannot find)."""

from __future__ import annotations

import os
from pathlib import Path

from skillexec import EngineConfig, SkillExecutionEngine
from skillexec.task import ExecutionResult
from tests._isolation import need_sandbox
from tests.conftest import arun

HOARD = """import os, resource, sys
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], flush=True)
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError as exc:
    sys.exit(f"opened {len(held)}: {exc}")
"""


def _run(tmp_path: Path, **limits: int) -> ExecutionResult:
    folder = tmp_path / "skills" / "hoarder"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: hoarder\ndescription: H.\n---\nRun it.\n")
    (folder / "scripts" / "hoard.py").write_text(HOARD)
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(config=EngineConfig(
                skills_dir=tmp_path / "skills", data_dir=tmp_path / "d",
                limits=limits)) as e:
            return await e.run_script("hoarder", "scripts/hoard.py")
    return arun(go())


def test_a_script_that_runs_out_of_open_files_is_told_the_limit(tmp_path: Path) -> None:
    need_sandbox()
    r = _run(tmp_path)
    assert r.error is not None and r.error.code == "script_exit", r.error
    assert r.error.details["stdout"].split() == ["1024"]
    assert "Too many open files" in r.error.details["stderr"]
    hint = "it ran out of open files: an attempt may hold 1024 at once (limits.max_open_files)"
    assert r.error.details["open_files"] == hint
    assert hint in r.error.message


def test_the_operator_sets_how_many(tmp_path: Path) -> None:
    need_sandbox()
    r = _run(tmp_path, max_open_files=64)
    assert r.error is not None and r.error.details["stdout"].split() == ["64"], r.error
    assert "may hold 64 at once" in r.error.details["open_files"]
