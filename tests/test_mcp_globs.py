"""``skillexec mcp --include/--exclude``: a glob that matches no skill is said on stderr
(a typo served an MCP server without a single skill tool, silently)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SKILL = {"id": "hello-there", "version": "1.0.0", "description": "d",
         "entry_point": "main:execute", "execution": {"isolation": "process"}}


def test_a_glob_that_matches_no_skill_is_said(tmp_path: Path) -> None:
    folder = tmp_path / "skills" / "hello-there"
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps(SKILL))
    (folder / "main.py").write_text("def execute(input_data):\n    return 1\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"),
           "SKILLEXEC_ISOLATION__DEFAULT_LEVEL": "process"}

    def mcp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "skillexec", "mcp", *args], cwd=tmp_path,
                              env=env, input="", capture_output=True, text=True, timeout=60,
                              check=False)

    typo = mcp("--include", "helo-*", "--exclude", "nothing-*")
    assert typo.returncode == 0, typo.stderr
    assert "--include 'helo-*' matches no skill" in typo.stderr, typo.stderr
    assert "hello-there" in typo.stderr  # what there is
    assert "--exclude 'nothing-*' matches no skill" in typo.stderr
    fine = mcp("--include", "hello-*")
    assert fine.returncode == 0 and "matches no skill" not in fine.stderr, fine.stderr
