"""A sandboxed script that fails silently for want of the network is told so.

Gamaroff's use-railway runs ``curl -s``: without network_access it exited 6 with nothing
on either stream, and the failure named nothing the operator could change. Where the
script's code goes online (a URL, a client library or program), the failure says the
sandbox has no network and how to grant it; a script that does not is told nothing of it.
"""

from __future__ import annotations

import os
from pathlib import Path

from skillexec import SkillExecutionEngine
from skillexec.task import ExecutionResult
from tests._isolation import need_sandbox
from tests.conftest import arun


def _fail(tmp_path: Path, code: str) -> ExecutionResult:
    folder = tmp_path / "skills" / "railway"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: railway\ndescription: R.\n---\nRun it.\n")
    (folder / "scripts" / "api.sh").write_text(code)
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            return await e.run_script("railway", "scripts/api.sh")
    return arun(go())


def test_a_silent_failure_of_a_script_that_goes_online_says_the_network_is_off(
        tmp_path: Path) -> None:
    need_sandbox()
    r = _fail(tmp_path, "#!/bin/bash\n# curl -s https://backboard.railway.com/graphql\nexit 6\n")
    assert r.error is not None and r.error.code == "script_exit", r.error
    hint = r.error.details["sandbox"]
    assert hint.startswith("the skill has no network_access permission"), hint
    assert "per_skill = {'railway' = [\"network_access\"]}" in hint
    assert "has no network" in r.error.message


def test_a_script_that_does_not_go_online_is_told_nothing_of_the_network(
        tmp_path: Path) -> None:
    need_sandbox()
    r = _fail(tmp_path, "#!/bin/bash\necho counting\nexit 3\n")
    assert r.error is not None and "sandbox" not in r.error.details, r.error
