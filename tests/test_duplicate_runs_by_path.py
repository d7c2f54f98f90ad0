"""A folder refused as defining a loaded skill's id again still runs by its path, and the
'not loaded' line says so: it read as "this folder cannot be used"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("SKILLEXEC_")},
       "PYTHONPATH": str(ROOT / "src")}


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", *args, "--data-dir",
                           str(tmp_path / "data")], env=ENV, cwd=tmp_path, text=True,
                          capture_output=True, timeout=120, check=False)


def test_the_not_loaded_line_of_a_duplicate_says_it_runs_by_its_path(tmp_path: Path) -> None:
    for name in ("a--tool", "b--tool"):
        (tmp_path / "dup" / name / "scripts").mkdir(parents=True)
        (tmp_path / "dup" / name / "SKILL.md").write_text(
            f"---\nname: tool\ndescription: Tool from {name}.\n---\nRun scripts/who.sh\n")
        (tmp_path / "dup" / name / "scripts" / "who.sh").write_text(f"echo {name}\n")
    listed = _cli(tmp_path, "skills", "list", "--skills-dir", "dup")
    (line,) = [ln for ln in listed.stdout.splitlines() if ln.startswith("not loaded")]
    assert "dup/b--tool" in line and "already defined in " in line and "dup/a--tool" in line, line
    assert "use this one by its folder's path (skillexec script " in line, line
    # What the line says works.
    ran = _cli(tmp_path, "script", "--skills-dir", "dup", "dup/b--tool", "scripts/who.sh",
               "--json")
    assert json.loads(ran.stdout)["output"]["stdout"] == "b--tool\n", ran.stderr
