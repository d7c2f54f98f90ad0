"""A journaled task runs again only from the folder it was accepted for.

Two folders may declare one skill id: the second is not loaded ("already defined") but
runs by its path, and the journal named the task by id alone. ``tasks replay`` of such a
task then ran the first folder's script and said ``succeeded``; an engine resuming it after
a crash did the same. And a folder that takes a trusted skill's id while an engine is down
(sorted first, so it wins the id at the next start) got the trusted skill's queued tasks
run with its own code. The task now keeps its folder, and is refused, naming both folders,
where its id names another one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from skillexec import SkillExecutionEngine, TaskStatus
from tests.conftest import ROOT, arun

ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("SKILLEXEC_")},
       "PYTHONPATH": str(ROOT / "src")}


def _tool(folder: Path, says: str, *, sleep: float = 0) -> Path:
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\nname: tool\ndescription: Tool from {says}.\n---\n"
                                     "Run scripts/who.sh\n")
    (folder / "scripts" / "who.sh").write_text(
        f"#!/bin/bash\nsleep {sleep}\necho \"I am {says}\"\n")
    return folder


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", *args, "--data-dir",
                           str(tmp_path / "data")], env=ENV, cwd=tmp_path, text=True,
                          capture_output=True, timeout=120, check=False)


def test_replay_of_a_script_run_by_the_path_of_a_second_folder_is_refused(
        tmp_path: Path) -> None:
    dup = tmp_path / "dup"
    a, b = _tool(dup / "a--tool", "a"), _tool(dup / "b--tool", "b")
    ran = _cli(tmp_path, "script", "--skills-dir", "dup", "./dup/b--tool", "scripts/who.sh",
               "--json")
    assert ran.returncode == 0, ran.stderr
    first = json.loads(ran.stdout)
    assert first["output"]["stdout"] == "I am b\n"

    again = _cli(tmp_path, "tasks", "replay", "--skills-dir", "dup", first["task_id"],
                 "--json")
    assert again.returncode == 2, (again.stdout, again.stderr)
    assert "I am a" not in again.stdout + again.stderr
    said = again.stderr.strip().splitlines()[-1]
    assert f"from the folder {b}" in said and f"'tool' here is the one at {a}" in said, said
    assert f"skillexec script {b} scripts/who.sh" in said, said
    tasks = _cli(tmp_path, "tasks", "list", "--json")
    assert len(json.loads(tasks.stdout)) == 1, tasks.stdout  # nothing ran again

    # Where the id names the folder it ran from, the replay runs it, as before.
    alone = _cli(tmp_path, "tasks", "replay", "--skills-dir", "dup/b--tool",
                 first["task_id"], "--json")
    assert alone.returncode == 0, alone.stderr
    assert json.loads(alone.stdout)["result"]["output"]["stdout"] == "I am b\n"


DRIVER = """
import asyncio, sys
from skillexec import SkillExecutionEngine

async def main():
    engine = SkillExecutionEngine(skills_dir=sys.argv[1], data_dir=sys.argv[2],
                                  max_concurrency=1)
    await engine.start()
    if len(sys.argv) > 3:
        engine.register(sys.argv[3])  # a second folder of the id, run by its path
    for _ in range(3):  # one runs (it sleeps), two wait in the queue
        await engine.submit_script("tool", "scripts/who.sh")
    print("READY", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def _killed_with_tasks_queued(tmp_path: Path, skills: Path, *register: Path) -> Path:
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(skills), str(data),
                             *map(str, register)], stdout=subprocess.PIPE, env=ENV, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return data


def _recovered(skills: Path, data: Path) -> tuple[tuple[str, ...], list[dict[str, object]]]:
    async def go() -> tuple[tuple[str, ...], list[dict[str, object]]]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=data) as engine:
            found = engine.recovery
            ended = [await engine.wait(t, timeout=60)
                     for t in (*found.resumed, *found.interrupted)]
            return found.resumed, [r.to_dict() for r in ended]
    return arun(go())


def _refused_for_its_folder(results: list[dict[str, object]], ran: Path, here: Path) -> None:
    assert len(results) == 3, results  # the one running (a script: not run twice) too
    for r in results:
        assert r["status"] == TaskStatus.FAILED.value, r
        assert "I am" not in json.dumps(r["output"]), r  # never run by the other folder
        error = r["error"]
        assert isinstance(error, dict) and "not resumed" in error["message"], error
        assert f"from the folder {ran}" in error["message"], error
        assert f"here is the one at {here}" in error["message"], error


def test_a_task_of_a_second_folder_is_not_resumed_with_the_first_ones_code(
        tmp_path: Path) -> None:
    dup = tmp_path / "dup"
    a = _tool(dup / "a--tool", "a")
    b = _tool(dup / "b--tool", "b", sleep=5)
    data = _killed_with_tasks_queued(tmp_path, dup, b)
    resumed, results = _recovered(dup, data)
    assert resumed == (), results
    _refused_for_its_folder(results, b, a)


def test_a_folder_that_takes_an_id_while_the_engine_is_down_does_not_run_its_tasks(
        tmp_path: Path) -> None:
    """The hostile case: the tasks were for the only folder of ``tool``; before the restart
    a second folder claims ``tool`` and, sorted first, is what the id names."""
    skills = tmp_path / "skills"
    trusted = _tool(skills / "tool", "trusted", sleep=5)
    data = _killed_with_tasks_queued(tmp_path, skills)
    taker = _tool(skills / "0-tool", "the taker")
    resumed, results = _recovered(skills, data)
    assert resumed == (), results
    _refused_for_its_folder(results, trusted, taker)


def test_a_task_journaled_without_its_folder_runs_by_id_unless_the_id_is_contested(
        tmp_path: Path) -> None:
    """A journal an older skillexec wrote keeps no folder: its tasks still replay where one
    folder claims the id, and are refused where several do (nothing says which ran)."""
    import sqlite3

    dup = tmp_path / "dup"
    a, b = _tool(dup / "a--tool", "a"), _tool(dup / "b--tool", "b")
    ran = _cli(tmp_path, "script", "--skills-dir", "dup", "./dup/b--tool", "scripts/who.sh",
               "--json")
    task_id = json.loads(ran.stdout)["task_id"]
    with sqlite3.connect(tmp_path / "data" / "journal.db") as db:  # as an older one wrote it
        if "folder" in {r[1] for r in db.execute("PRAGMA table_info(tasks)")}:
            db.execute("UPDATE tasks SET folder=NULL")
    again = _cli(tmp_path, "tasks", "replay", "--skills-dir", "dup", task_id)
    assert again.returncode == 2, (again.stdout, again.stderr)
    assert "journaled without its skill's folder" in again.stderr, again.stderr
    assert str(a) in again.stderr and str(b) in again.stderr, again.stderr
    alone = _cli(tmp_path, "tasks", "replay", "--skills-dir", "dup/a--tool", task_id,
                 "--json")
    assert json.loads(alone.stdout)["result"]["output"]["stdout"] == "I am a\n", alone.stderr
