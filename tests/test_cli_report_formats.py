"""Every report takes ``--format table|json|html``, and in a pipe prints plain tables whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LONG = "a-skill-whose-identifier-is-long-enough-to-be-cut-in-a-narrow-table"


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "60"}
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reports")
    d = root / "skills" / "one"
    d.mkdir(parents=True)
    (d / "main.py").write_text("def execute(input_data):\n    return {'ok': True}\n")
    (d / "skill.json").write_text(json.dumps({"id": LONG, "version": "1.0.0",
                                              "entry_point": "main:execute"}))
    r = cli(root, "run", LONG)
    assert r.returncode == 0, r.stderr
    return root


@pytest.mark.parametrize("report", ["summary", "performance", "usage", "predictions",
                                    "suggestions", "alerts", "errors"])
def test_every_report_writes_html(ran: Path, report: str) -> None:
    target = ran / f"{report}.html"
    r = cli(ran, "report", report, "--since", "all", "-f", "html", "-o", str(target))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    page = target.read_text()
    assert page.lstrip().lower().startswith("<!doctype html"), page[:200]


@pytest.mark.parametrize("report", ["summary", "performance", "usage"])
def test_reports_in_a_pipe_are_plain_and_whole(ran: Path, report: str) -> None:
    r = cli(ran, "report", report, "--since", "all")
    assert r.returncode == 0, r.stderr
    assert not any(ch in r.stdout for ch in "┏┃━│─"), r.stdout  # no box drawing in a pipe
    assert LONG in r.stdout, r.stdout  # the id whole, on one line
