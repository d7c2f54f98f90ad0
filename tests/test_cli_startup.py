"""What the command line does before it runs anything (issue 12 item 12): ``run SKILL``
prepares that skill only and is quiet about unrelated folders; ``--help``/``--version``
import nothing heavy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

LIGHT = """
def execute(input_data, context):
    return {"success": True, "result": "light"}
"""

# A neighbour whose import is slow and leaves a mark: a skill that pays for pandas, say.
HEAVY = """
import pathlib, time
pathlib.Path({marker!r}).write_text("imported")
time.sleep(1.0)
def execute(input_data, context):
    return "heavy"
"""


def _cli(*args: str, cwd: Path, extra: list[str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200",
           "SKILLEXEC_TRUSTED_SKILLS": '["light", "heavy"]'}  # inline: the operator names them
    return subprocess.run([sys.executable, *(extra or []), "-m", "skillexec", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)


def _skill(root: Path, sid: str, code: str) -> None:
    d = root / sid
    d.mkdir(parents=True)
    (d / "main.py").write_text(code)
    (d / "skill.json").write_text(json.dumps({
        "id": sid, "name": sid, "version": "1.0.0", "description": f"{sid} skill",
        "entry_point": "main:execute", "parameters_schema": {},
        "execution": {"isolation": "inline", "max_retries": 0}}))


def test_run_prepares_only_its_skill_and_is_quiet_about_others(tmp_path: Path) -> None:
    root = tmp_path / "skills"
    marker = tmp_path / "heavy-was-imported"
    _skill(root, "light", LIGHT)
    _skill(root, "heavy", HEAVY.format(marker=str(marker)))
    (root / "broken").mkdir()
    (root / "broken" / "skill.json").write_text("{ not json")
    r = _cli("run", "light", "--skills-dir", str(root), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "light"
    assert not marker.exists()  # the heavy neighbour was not prepared
    assert "broken" not in r.stderr, r.stderr  # `skills list` is where that is told
    # The skill asked for is prepared, and its own broken folder is still told.
    r = _cli("run", "heavy", "--skills-dir", str(root), cwd=tmp_path)
    assert r.returncode == 0 and marker.exists()
    r = _cli("run", "broken", "--skills-dir", str(root), cwd=tmp_path)
    assert r.returncode == 2 and "broken" in r.stderr


def _imported(*args: str, cwd: Path) -> set[str]:
    r = _cli(*args, cwd=cwd, extra=["-X", "importtime"])
    assert r.returncode == 0, r.stderr
    return {line.split("|")[-1].strip() for line in r.stderr.splitlines()
            if line.startswith("import time:")}


def test_help_and_version_import_nothing_heavy(tmp_path: Path) -> None:
    # Not a wall-clock bound (the machine is shared): the modules that make a start slow —
    # the engine and everything it pulls in (pydantic settings, SQLite journal, runners,
    # monitoring) — must not be imported to print the help or the version.
    heavy = {"skillexec.engine", "skillexec.config", "skillexec.storage.sqlite",
             "skillexec.runtime.runners.process", "skillexec.monitoring.monitor",
             "pydantic", "pydantic_settings", "structlog", "prometheus_client"}
    for args in (("--help",), ("--version",)):
        loaded = _imported(*args, cwd=tmp_path)
        assert not heavy & loaded, (args, sorted(heavy & loaded))
    r = _cli("--version", cwd=tmp_path)
    assert r.stdout.strip().endswith("0.1.0")
