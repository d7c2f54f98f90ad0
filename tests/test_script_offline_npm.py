"""npm without network_access fails at once rather than when the call's time runs out.

``npx --no-install tsc --version`` (typescript-migration's detect-ts-version.sh) with no
tsc at hand asks the registry; npm retries a failed fetch twice, 10 s and then up to 60 s
apart, whatever the error (EAI_AGAIN and ENOTFOUND alike), so in the sandbox the call
timed out after 60 s with nothing said (trialA, finding 4; 0.9 s on the host). A sandbox
without the network now tells npm not to retry (``npm_config_fetch_retries=0``): npx fails
in about a second, and the failure names the network.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.task import ExecutionResult, TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import arun


def test_npx_without_the_network_fails_at_once(tmp_path: Path) -> None:
    need_sandbox()
    if shutil.which("npx") is None:
        pytest.skip("no npx on this machine")
    folder = tmp_path / "skills" / "tsver"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: tsver\ndescription: T.\n---\nRun it.\n")
    (folder / "scripts" / "ver.sh").write_text(
        "#!/bin/bash\nnpx --no-install skillexec-absent-package-x1 --version\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> tuple[ExecutionResult, float]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            start = time.monotonic()
            r = await e.run_script("tsver", "scripts/ver.sh", timeout=30)
            return r, time.monotonic() - start
    r, took = arun(go())
    assert r.status is TaskStatus.FAILED and r.error is not None, r.error
    assert r.error.code == "script_exit" and took < 10, (took, r.error)
    assert r.error.details["sandbox"].startswith("the skill has no network_access"), r.error
