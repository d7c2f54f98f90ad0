"""The command line as a user runs it: real processes, exit codes, stdout and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

ECHO = """
def execute(input_data, context):
    if input_data.get("fail"):
        return {"success": False, "error": "asked to fail"}
    context.save_artifact("echo.txt", input_data["text"])
    return {"success": True, "result": {"text": input_data["text"], "n": input_data["n"]}}
"""

SLOW = """
import time
def execute(input_data, context):
    time.sleep(input_data.get("seconds", 5))
    return "late"
"""


def cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                          input=stdin, capture_output=True, text=True, timeout=60)


@pytest.fixture()
def skills(tmp_path: Path) -> Path:
    root = tmp_path / "skills"
    for sid, code, schema in (
        ("echo", ECHO, {"text": {"type": "string", "required": True},
                        "n": {"type": "integer", "default": 1, "minimum": 1},
                        "fail": {"type": "boolean", "default": False}}),
        ("slow", SLOW, {"seconds": {"type": "number", "default": 5}}),
    ):
        d = root / sid
        d.mkdir(parents=True)
        (d / "main.py").write_text(textwrap.dedent(code))
        (d / "skill.json").write_text(json.dumps({
            "id": sid, "name": sid.title(), "version": "1.2.0", "description": f"{sid} skill",
            "entry_point": "main:execute", "parameters_schema": schema,
            "execution": {"isolation": "inline", "max_retries": 0}}))
    return root


def test_run_prints_output_and_exits_zero(skills: Path, tmp_path: Path) -> None:
    r = cli("run", "echo", "-p", "text=hi", "-p", "n=3", "--skills-dir", str(skills),
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"text": "hi", "n": 3}
    assert "artifact art_" in r.stderr


def test_run_json_gives_the_whole_result(skills: Path, tmp_path: Path) -> None:
    r = cli("run", "echo", "--params", "-", "--json", "--skills-dir", str(skills),
            cwd=tmp_path, stdin='{"text": "x", "n": 2}')
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["status"] == "succeeded" and body["output"] == {"text": "x", "n": 2}
    assert body["skill_version"] == "1.2.0" and body["artifacts"][0]["name"] == "echo.txt"
    assert {"wall_ms", "queue_ms"} <= set(body["metrics"])


def test_exit_codes_for_refused_and_failed(skills: Path, tmp_path: Path) -> None:
    r = cli("run", "ecko", "-p", "text=x", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 2 and "echo" in r.stderr  # unknown: the closest id is named
    r = cli("run", "echo", "-p", "n=0", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 2
    assert "/n" in r.stderr and "text" in r.stderr  # both violations named
    r = cli("run", "echo", "-p", "text=x", "-p", "fail=true", "--skills-dir", str(skills),
            cwd=tmp_path)
    assert r.returncode == 1 and "asked to fail" in r.stderr
    r = cli("run", "slow", "--timeout", "0.3", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 1 and "timed_out" in r.stderr
    r = cli("run", "echo", "-p", "oops", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 2 and "key=value" in r.stderr


def test_run_a_skill_folder_by_path(skills: Path, tmp_path: Path) -> None:
    r = cli("run", str(skills / "echo"), "-p", "text=folder", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["text"] == "folder"


def test_batch_and_tasks_commands(skills: Path, tmp_path: Path) -> None:
    lines = [{"skill": "echo", "params": {"text": f"t{i}"}, "priority": i % 10}
             for i in range(8)]
    lines.append({"skill": "nope"})
    batch = tmp_path / "b.jsonl"
    batch.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    r = cli("batch", str(batch), "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "succeeded 8" in r.stdout and "rejected 2" in r.stdout
    r = cli("batch", str(batch), "--json", "--strict", "--skills-dir", str(skills),
            cwd=tmp_path)
    assert r.returncode == 1
    results = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(results) == 10 and results[-1]["error"]["code"] == "invalid_batch_line"

    r = cli("tasks", "list", "--json", "--status", "succeeded", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    tasks = json.loads(r.stdout)
    assert len(tasks) == 16 and all(t["status"] == "succeeded" for t in tasks)
    r = cli("tasks", "show", tasks[0]["task_id"], cwd=tmp_path)
    assert r.returncode == 0 and '"history"' in r.stdout
    r = cli("tasks", "cancel", tasks[0]["task_id"], cwd=tmp_path)
    assert r.returncode == 1 and "already finished" in r.stderr
    r = cli("tasks", "show", "nosuchtask", cwd=tmp_path)
    assert r.returncode == 2


def test_skills_commands(skills: Path, tmp_path: Path) -> None:
    r = cli("skills", "list", "--json", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [s["id"] for s in json.loads(r.stdout)] == ["echo", "slow"]
    r = cli("skills", "show", "echo", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 0 and '"parameters_schema"' in r.stdout
    r = cli("skills", "validate", str(skills / "echo"), cwd=tmp_path)
    assert r.returncode == 0 and "ok" in r.stdout
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "skill.json").write_text('{"id": "broken", "version": ')
    r = cli("skills", "validate", str(broken), cwd=tmp_path)
    assert r.returncode == 2 and "skill.json" in r.stdout


def test_skills_init_makes_a_working_skill(tmp_path: Path) -> None:
    r = cli("skills", "init", "my-tool", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli("skills", "validate", "my-tool", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli("run", "my-tool", "-p", "text=hello", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli("skills", "init", "Bad_Name", cwd=tmp_path)
    assert r.returncode == 2 and "not a valid skill id" in r.stderr


def test_artifacts_get_and_prune(skills: Path, tmp_path: Path) -> None:
    r = cli("run", "echo", "-p", "text=keep me", "--json", "--skills-dir", str(skills),
            cwd=tmp_path)
    art = json.loads(r.stdout)["artifacts"][0]
    r = cli("artifacts", "get", art["id"], cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "keep me"
    r = cli("artifacts", "prune", "--older-than", "1d", cwd=tmp_path)
    assert r.returncode == 0 and "forgot 0" in r.stdout
    r = cli("artifacts", "prune", "--older-than", "0s", cwd=tmp_path)
    assert r.returncode == 0 and "forgot 1" in r.stdout and "deleted 1" in r.stdout
    r = cli("artifacts", "get", art["id"], cwd=tmp_path)
    assert r.returncode == 2 and "no artifact" in r.stderr
