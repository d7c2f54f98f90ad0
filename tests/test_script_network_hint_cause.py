"""The "no network_access" hint only where a failure looks like the network's.

claude-code-bash-patterns' dangerous-command-guard.py is a hook that exits 2 by design
("BLOCKED: Delete root directory"); its code names ``curl`` and URLs among the commands it
screens, so the failure went on about the sandbox having no network and how to grant it
(trialA, finding 16). A script whose code goes online gets that hint now only when its
failure could be the network's: it said nothing (``curl -s`` exits 6 in silence), or its
words speak of a connection, a host, a timeout, a download.
"""

from __future__ import annotations

import os
from pathlib import Path

from skillexec import SkillExecutionEngine
from skillexec.task import ExecutionResult
from tests._isolation import need_sandbox
from tests.conftest import arun

_GUARD = '''import json, re, sys
PATTERNS = [(r"rm -rf /", "Delete root directory (rm -rf /)"),
            (r"curl .*\\\\| *sh", "Pipe a download to a shell (curl https://x | sh)")]
command = json.load(sys.stdin)["tool_input"]["command"]
for pattern, what in PATTERNS:
    if re.search(pattern, command):
        print(f"BLOCKED: {what}\\n\\nCommand: {command}\\n", file=sys.stderr)
        sys.exit(2)
'''


def _run(tmp_path: Path, code: str, name: str, stdin: str | None = None) -> ExecutionResult:
    folder = tmp_path / "skills" / "guard"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: guard\ndescription: G.\n---\nRun it.\n")
    (folder / "scripts" / name).write_text(code)
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            return await e.run_script("guard", f"scripts/{name}", stdin=stdin)
    return arun(go())


def test_a_script_that_says_why_it_failed_is_not_told_of_the_network(tmp_path: Path) -> None:
    need_sandbox()
    r = _run(tmp_path, _GUARD, "guard.py",
             stdin='{"tool_input": {"command": "rm -rf / --no-preserve-root"}}')
    assert r.error is not None and r.error.code == "script_exit", r.error
    assert r.error.details["exit_code"] == 2
    assert "BLOCKED" in r.error.details["stderr"]
    assert "sandbox" not in r.error.details and "network" not in r.error.message, r.error


def test_a_script_that_goes_online_and_speaks_of_a_connection_is_told(tmp_path: Path) -> None:
    need_sandbox()
    r = _run(tmp_path, "#!/bin/bash\n[ -n \"$NEVER\" ] && curl -s https://api.example.com/x\n"
             "echo 'error: could not reach api.example.com (connection failed)' >&2\nexit 1\n",
             "get.sh")
    assert r.error is not None and r.error.code == "script_exit", r.error
    assert r.error.details["sandbox"].startswith("the skill has no network_access"), r.error
