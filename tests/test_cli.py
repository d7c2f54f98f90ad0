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


# The skills here ask for `inline` (fast): the operator's policy must name them.
TRUSTED = '["echo", "slow", "flaky"]'


def cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200",
           "SKILLEXEC_TRUSTED_SKILLS": TRUSTED}
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
    r = cli("run", "echo", "-p", "text=a", "-p", " text=b", "--skills-dir", str(skills),
            cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == "skillexec: parameter 'text' given twice\n"


@pytest.mark.parametrize("isolation", ["inline", "process"])
def test_a_module_nothing_provides_exits_2_as_a_missing_dependency(
        tmp_path: Path, isolation: str) -> None:
    """README's exit codes: a missing dependency is refused (2), not a failed call (1)."""
    folder = tmp_path / "skills" / "flaky"  # a TRUSTED id: inline is allowed
    folder.mkdir(parents=True)
    (folder / "main.py").write_text("import nosuch_module_xyz\n\n"
                                    "def execute(input_data, context):\n    return 1\n")
    (folder / "skill.json").write_text(json.dumps({
        "id": "flaky", "version": "1.0.0", "entry_point": "main:execute",
        "execution": {"isolation": isolation, "max_retries": 0}}))
    r = cli("run", "flaky", "--skills-dir", str(tmp_path / "skills"), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "[dependency_error/missing_module]" in r.stderr and "Traceback" not in r.stderr


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
    r = cli("batch", str(batch), "--keep-going", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "succeeded 8" in r.stdout and "rejected 2" in r.stdout
    r = cli("batch", str(batch), "--json", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 1  # failures: exit 1 unless --keep-going
    results = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(results) == 10
    assert [(x["error"] or {}).get("code") for x in results].count("invalid_batch_line") == 1

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
    r = cli("skills", "show", "echo", "--json", "--skills-dir", str(skills), cwd=tmp_path)
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


def test_skills_init_puts_the_skill_where_the_other_commands_find_it(tmp_path: Path) -> None:
    (tmp_path / "skills").mkdir()  # the default skills folder: init used to write ./NAME
    r = cli("skills", "init", "my-tool", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "skills" / "my-tool" / "skill.json").is_file()
    assert "try: skillexec run my-tool -p text=hello" in r.stdout
    r = cli("skills", "show", "my-tool", "--json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["id"] == "my-tool", r.stderr


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


def test_bad_input_is_refused_with_one_sentence_and_exit_2(skills: Path, tmp_path: Path) -> None:
    where = ("--skills-dir", str(skills))
    (tmp_path / "latin1.json").write_bytes(b'{"text": "caf\xe9"}')
    cases = [
        (("run", "echo", "--params", str(tmp_path / "missing.json"), *where),
         "cannot be read: No such file or directory"),
        (("run", "echo", "--params", str(tmp_path), *where), "is a folder, not a JSON file"),
        (("run", "echo", "--params", str(tmp_path / "latin1.json"), *where), "not UTF-8 text"),
        (("run", "echo", "-p", "text=x", "--timeout", "nan", *where),
         "--timeout nan: must be a number of seconds above 0"),
        (("run", "echo", "--skills-dir", str(tmp_path / "latin1.json")),
         "is a file, not a folder"),
        (("run", str(skills)), "is a folder of skills, not one skill: pass --skills-dir"),
        (("batch", str(tmp_path / "latin1.json"), *where), "not UTF-8 text"),
        (("batch", str(tmp_path), *where), "is a folder, not a JSON Lines file"),
    ]
    for args, says in cases:
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert says in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr + r.stdout
    for args, says in ((("run", "echo", "--bogus", *where), "No such option: --bogus"),
                       (("run", "echo", "--priority", "11", *where), "'--priority'"),
                       (("skills", "nosuch"), "No such command 'nosuch'")):
        r = cli(*args, cwd=tmp_path)  # usage errors too: one line, exit 2
        assert r.returncode == 2 and says in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "--help" in r.stderr
    r = cli("run", "echo", "--params", "-", *where, cwd=tmp_path,
            stdin='{"a": ' + "[" * 2000 + "]" * 2000 + "}")
    assert r.returncode == 2 and "nested more than 254 levels deep" in r.stderr
    r = cli("run", "echo", "-p", "n=0", *where, cwd=tmp_path)  # each violation said once
    assert r.returncode == 2 and r.stderr.count("'text' is required") == 1


def test_a_failed_command_shows_the_line_of_stderr_that_says_why(tmp_path: Path) -> None:
    folder = tmp_path / "skills" / "flaky"
    folder.mkdir(parents=True)
    (folder / "run.sh").write_text('echo "warming up" >&2\n'
                                   'echo "Error: the input file is missing" >&2\nexit 3\n')
    (folder / "skill.json").write_text(json.dumps({
        "id": "flaky", "version": "1.0.0", "command": ["sh", "run.sh"],
        "execution": {"isolation": "inline", "max_retries": 0}}))
    r = cli("run", "flaky", "--skills-dir", str(tmp_path / "skills"), cwd=tmp_path)
    assert r.returncode == 1
    assert "exited with status 3" in r.stderr
    assert "(stderr: Error: the input file is missing)" in r.stderr


def test_skills_commands_on_folders_that_cannot_run(tmp_path: Path) -> None:
    root = tmp_path / "skills"
    docs = root / "house-style"
    docs.mkdir(parents=True)
    (docs / "skill.json").write_text(json.dumps({
        "skill_id": "house-style", "version": "1.0.0",
        "entry_point": "app.skills.skills.house-style",
        "dependencies": {"no-such-pkg-3f9a": "*"}}))
    (docs / "SKILL.md").write_text(
        "---\nname: house-style\ndescription: Our style.\n---\nUse it.\n")
    typo = root / "typo"
    typo.mkdir()
    (typo / "skill.json").write_text('{"id": "typo", "version": "1.0.0"}')
    (typo / "main.py").write_text("def execute(data:\n")
    where = ("--skills-dir", str(root))
    r = cli("skills", "list", *where, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # Instructions only: a valid skill (listed, offers its instructions), not an error.
    assert "no entry (instructions only) house-style: entry_point " \
           "'app.skills.skills.house-style' is a Py Copilot package path" \
        in " ".join(r.stdout.split())
    r = cli("skills", "show", "house-style", "--json", *where, cwd=tmp_path)
    body = json.loads(r.stdout)
    assert body["entry"].startswith("none (entry_point") and "[red]" not in r.stdout
    assert "no-such-pkg-3f9a" in body["dependencies_ok"]
    r = cli("skills", "validate", str(docs), cwd=tmp_path)
    out = " ".join(r.stdout.split())
    # valid, as `skills list` says: its instructions are what it offers (it was "invalid")
    assert r.returncode == 0 and out.startswith("ok house-style 1.0.0"), out
    assert "warning no executable entry (it offers instructions only): entry_point " in out
    assert "SKILL.md is instructions for a model" in out
    assert "warning not runnable on this machine" in out and "no-such-pkg-3f9a" in out
    r = cli("skills", "validate", str(typo), cwd=tmp_path)
    assert r.returncode == 2 and "main.py: line 1:" in r.stdout
    r = cli("run", "house-style", *where, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "is a Py Copilot package path" in r.stderr and len(r.stderr.splitlines()) == 1
    r = cli("skills", "list", "--skills-dir", str(typo / "skill.json"), cwd=tmp_path)
    assert r.returncode == 2 and "is a file, not a folder" in r.stderr
