"""A script without network_access that timed out retrying the network is told why.

npx in the sandbox retried a registry lookup until the call's 60 s timeout; the timeout said
only "did not finish within 1 min", with empty streams, while npm's log in HOME read
"GET https://registry.npmjs.org/npm attempt 1 failed with EAI_AGAIN" (trialA, finding 4).
A timeout whose streams or tool logs (``.npm/_logs``) show a lookup or connection refused
now carries the network hint; one that shows nothing of it does not.
"""

from __future__ import annotations

import os
from pathlib import Path

from skillexec import SkillExecutionEngine
from skillexec.task import ExecutionResult, TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import arun

_RETRIES = """import socket, sys, time
while True:
    try:
        socket.getaddrinfo("registry.npmjs.org", 443)
    except OSError as exc:
        print(f"lookup failed: {exc}, retrying", file=sys.stderr, flush=True)
    time.sleep(0.2)
"""
_LOGS = """import os, time
os.makedirs(".npm/_logs", exist_ok=True)
with open(".npm/_logs/2026-12-08T03_20_00_000Z-debug-0.log", "w") as f:
    f.write("12 http fetch GET https://registry.npmjs.org/npm attempt 1 failed with EAI_AGAIN\\n")
time.sleep(60)
"""
_QUIET = "import time\ntime.sleep(60)\n"


def _timed_out(tmp_path: Path) -> dict[str, ExecutionResult]:
    folder = tmp_path / "skills" / "npx"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: npx\ndescription: N.\n---\nRun it.\n")
    for name, code in (("retries.py", _RETRIES), ("logs.py", _LOGS), ("quiet.py", _QUIET)):
        (folder / "scripts" / name).write_text(code)
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> dict[str, ExecutionResult]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            return {name: await e.run_script("npx", f"scripts/{name}.py", timeout=1.5)
                    for name in ("retries", "logs", "quiet")}
    return arun(go())


def test_a_timeout_that_retried_the_network_says_the_sandbox_has_none(tmp_path: Path) -> None:
    need_sandbox()
    runs = _timed_out(tmp_path)
    for name in ("retries", "logs"):
        r = runs[name]
        assert r.status is TaskStatus.TIMED_OUT and r.error is not None, (name, r.error)
        hint = r.error.details["sandbox"]
        assert hint.startswith("the skill has no network_access permission"), (name, hint)
        assert "per_skill = {'npx' = [\"network_access\"]}" in hint and hint in r.error.message
    quiet = runs["quiet"]
    assert quiet.status is TaskStatus.TIMED_OUT and quiet.error is not None
    assert "sandbox" not in (quiet.error.details or {}), quiet.error
    assert "network" not in quiet.error.message, quiet.error
