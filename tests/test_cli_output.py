"""What the CLI prints, in pipes and narrow terminals, and its output flags."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

LONG = "a-skill-with-a-rather-long-identifier-that-wraps"
CODE = """
def execute(input_data, context):
    if input_data.get("fail"):
        raise ValueError("asked to fail because the caller said so, at some length")
    context.save_artifact("out.txt", "hello")
    return {"ok": True}
"""


def cli(cwd: Path, *args: str, columns: int = 40) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": str(columns),
           "SKILLEXEC_TRUSTED_SKILLS": json.dumps([LONG])}  # inline: the operator names it
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def in_terminal(cwd: Path, *args: str, columns: int = 40) -> str:
    """Run with stdout on a pseudo-terminal ``columns`` wide; what it showed, no colours."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": str(columns),
           "LINES": "50", "TERM": "xterm", "SKILLEXEC_TRUSTED_SKILLS": json.dumps([LONG])}
    env.pop("NO_COLOR", None)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                            stdout=secondary, stderr=subprocess.PIPE)
    os.close(secondary)
    chunks = []
    while True:
        ready, _, _ = select.select([primary], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(primary, 65536)
        except OSError:  # the other end closed: the command ended
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    os.close(primary)
    assert proc.returncode == 0
    return re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", b"".join(chunks).decode())


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    d = tmp_path / "skills" / LONG
    d.mkdir(parents=True)
    (d / "main.py").write_text(textwrap.dedent(CODE))
    (d / "skill.json").write_text(json.dumps({
        "id": LONG, "version": "1.0.0", "entry_point": "main:execute",
        "description": "A skill whose id is longer than a narrow terminal is wide.",
        "execution": {"isolation": "inline", "max_retries": 0}}))
    batch = tmp_path / "b.jsonl"
    batch.write_text("".join(json.dumps({"skill": LONG, "params": {"fail": i % 2 == 1}})
                             + "\n" for i in range(4)))
    r = cli(tmp_path, "batch", str(batch), "--keep-going")
    assert r.returncode == 0, r.stderr
    return tmp_path


def _task_ids(cwd: Path) -> list[str]:
    r = cli(cwd, "tasks", "list", "--json")
    return [t["task_id"] for t in json.loads(r.stdout)]


def test_in_a_pipe_every_row_is_one_line_and_every_id_whole(data: Path) -> None:
    ids = _task_ids(data)
    r = cli(data, "tasks", "list")  # stdout is a pipe here, 40 columns
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["task", "id", "skill", "status", "prio", "tries", "created",
                                "wall", "ms"]
    assert len(lines) == 1 + len(ids)
    for task_id, line in zip(ids, lines[1:], strict=True):
        assert line.split()[:2] == [task_id, LONG]
    r = cli(data, "skills", "list", "--skills-dir", "skills")
    assert any(line.split()[:2] == [LONG, "1.0.0"] for line in r.stdout.splitlines())
    r = cli(data, "report", "errors")
    rows = [ln for ln in r.stdout.splitlines() if ln.startswith(LONG)]
    assert len(rows) == 1 and "asked to fail because the caller said so" in rows[0]
    assert "tasks read; 4 with a failed attempt" not in r.stdout  # 2 failed of 4
    assert re.search(r"^4 tasks read; 2 with a failed attempt .* dead letters$", r.stdout,
                     re.MULTILINE)


def test_a_narrow_terminal_never_cuts_an_id(data: Path) -> None:
    ids = _task_ids(data)
    shown = in_terminal(data, "tasks", "list")
    for task_id in ids:
        assert task_id in shown
    assert LONG in in_terminal(data, "skills", "list", "--skills-dir", "skills")
    wide = in_terminal(data, "tasks", "list", columns=200)
    assert "─" in wide and all(t in wide for t in ids)  # drawn where it fits


def test_json_on_every_command_that_prints_data(data: Path) -> None:
    task_id = _task_ids(data)[0]
    for args in (("skills", "show", LONG, "--skills-dir", "skills"),
                 ("skills", "validate", f"skills/{LONG}"),
                 ("tasks", "show", task_id), ("artifacts", "list"), ("doctor",)):
        r = cli(data, *args, "--json")
        assert r.returncode == 0, (args, r.stderr)
        json.loads(r.stdout)  # one JSON document
    arts = json.loads(cli(data, "artifacts", "list", "--json").stdout)
    assert len(arts) == 2 and {a["name"] for a in arts} == {"out.txt"}
    assert {a["task_id"] for a in arts} <= set(_task_ids(data))
    r = cli(data, "artifacts", "get", arts[0]["id"], "-o", "got.txt", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["written_to"] == "got.txt"
    assert (data / "got.txt").read_text() == "hello"
    r = cli(data, "artifacts", "list")
    assert arts[0]["id"] in r.stdout and arts[0]["task_id"] in r.stdout


def test_report_formats_version_and_completion(data: Path) -> None:
    r = cli(data, "report", "errors", "-f", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["tasks_scanned"] == 4
    r = cli(data, "report", "errors", "-f", "html", "-o", "errors.html")
    assert r.returncode == 0, r.stderr
    assert (data / "errors.html").read_text().startswith("<!DOCTYPE html>")
    for kind in ("summary", "performance", "alerts", "suggestions", "predictions", "usage"):
        r = cli(data, "report", kind, "-f", "json")
        assert r.returncode == 0, (kind, r.stderr)
        json.loads(r.stdout)
    r = cli(data, "--version")
    assert r.returncode == 0 and re.fullmatch(r"skillexec \d+\.\d+\.\d+\S*\n", r.stdout)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SHELL": "/bin/bash"}
    r = subprocess.run([sys.executable, "-m", "skillexec", "--show-completion", "bash"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "complete" in r.stdout, r.stderr
