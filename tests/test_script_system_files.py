"""A sandboxed script reads the system's files that common programs cannot start without.

git stops on a system configuration it may not read ("fatal: unknown error occurred while
reading the configuration files") where a missing one is nothing: every script that called
git failed on a machine with an /etc/gitconfig (trialA: 14 scripts of two repositories).
The machine's configuration stays closed (it may hold a credential helper or a token) and
git runs as without one. file(1) warned of /etc/magic it could not read.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.task import ExecutionResult
from tests._isolation import need_sandbox
from tests.conftest import arun


def _run(tmp_path: Path, code: str) -> ExecutionResult:
    folder = tmp_path / "skills" / "vcs"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: vcs\ndescription: V.\n---\nRun it.\n")
    (folder / "scripts" / "run.sh").write_text(code)
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            return await e.run_script("vcs", "scripts/run.sh")
    return arun(go())


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_runs_in_the_sandbox_and_the_system_configuration_stays_closed(
        tmp_path: Path) -> None:
    need_sandbox()
    r = _run(tmp_path, "#!/bin/bash\nset -e\ngit init -q repo && cd repo\n"
                       "git -c user.email=a@example.com -c user.name=A commit -q "
                       "--allow-empty -m first\ngit log --format=%s\n"
                       "git config --system --list >/dev/null 2>&1 && echo system-read "
                       "|| echo system-closed\n"
                       "cat /etc/gitconfig >/dev/null 2>&1 && echo file-read || true\n")
    assert r.ok, r.error
    assert r.output["stdout"].split() == ["first", "system-closed"], r.output


@pytest.mark.skipif(shutil.which("file") is None, reason="file(1) is not installed")
def test_file_finds_its_magic(tmp_path: Path) -> None:
    need_sandbox()
    r = _run(tmp_path, "#!/bin/bash\nprintf '%s\\n' '{\"a\": 1}' > a.json\nfile -b a.json\n")
    assert r.ok, r.error
    assert "cannot read" not in r.output["stderr"] + r.output["stdout"], r.output
