"""Kill -9 an engine mid-run, start another on the same journal: nothing accepted is lost."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from skillexec import SkillExecutionEngine, TaskStatus
from tests.conftest import ROOT, arun

SKILL = """
import asyncio, os
async def execute(input_data, context):
    with open(os.environ["RUNS_FILE"], "a") as fh:
        fh.write(f"{{context.task_id}}\\n")
    await asyncio.sleep(input_data["seconds"])
    return {{"n": input_data["n"]}}
"""

MANIFEST = """{{"id": "{id}", "version": "1.0.0", "entry_point": "main:execute",
 "parameters_schema": {{"n": {{"type": "integer", "required": true}},
                        "seconds": {{"type": "number", "default": 0.4}}}},
 "execution": {{"idempotent": {idem}, "isolation": "inline"}}}}"""

DRIVER = """
import asyncio, json, sys
from skillexec import SkillExecutionEngine

async def main():
    engine = SkillExecutionEngine(skills_dir=sys.argv[1], data_dir=sys.argv[2],
                                  max_concurrency=4)
    await engine.start()
    ids = {}
    for n in range(12):
        for sid in ("again", "once"):
            ids.setdefault(sid, []).append(await engine.submit(sid, {"n": n}))
    with open(sys.argv[3], "w") as fh:
        json.dump(ids, fh)
    print("READY", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


TRUSTED = '["again", "once"]'  # they ask for inline: the operator's policy names them


def make_skills(root: Path) -> Path:
    for sid, idem in (("again", "true"), ("once", "false")):
        d = root / "skills" / sid
        d.mkdir(parents=True)
        (d / "skill.json").write_text(MANIFEST.format(id=sid, idem=idem))
        (d / "main.py").write_text(textwrap.dedent(SKILL.format()))
    return root / "skills"


def test_sigkill_mid_run_loses_nothing(tmp_path: Path) -> None:
    skills = make_skills(tmp_path)
    data = tmp_path / "data"
    ids_file = tmp_path / "ids.json"
    runs = tmp_path / "runs.txt"
    env = {**os.environ, "RUNS_FILE": str(runs), "PYTHONPATH": str(ROOT / "src"),
           "SKILLEXEC_TRUSTED_SKILLS": TRUSTED}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(skills), str(data),
                             str(ids_file)], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(0.3)  # some tasks are running now, most still queued
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    ids = json.loads(ids_file.read_text())
    started_before = set(runs.read_text().split()) if runs.exists() else set()
    assert started_before, "the kill came before anything ran"

    os.environ["RUNS_FILE"] = str(runs)
    os.environ["SKILLEXEC_TRUSTED_SKILLS"] = TRUSTED

    async def resume() -> dict[str, TaskStatus]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=data) as engine:
            out = {}
            for task_id in ids["again"] + ids["once"]:
                out[task_id] = (await engine.wait(task_id, timeout=30)).status
            return out

    try:
        statuses = arun(resume())
    finally:
        del os.environ["RUNS_FILE"]
        del os.environ["SKILLEXEC_TRUSTED_SKILLS"]

    # every accepted task reached exactly one terminal state
    assert len(statuses) == 24 and all(s.terminal for s in statuses.values())
    for task_id in ids["again"]:  # idempotent: re-run if interrupted, so all succeed
        assert statuses[task_id] is TaskStatus.SUCCEEDED
    interrupted = [t for t in ids["once"] if statuses[t] is TaskStatus.FAILED]
    for task_id in ids["once"]:
        if task_id in started_before:  # was running: not re-run, failed as interrupted
            assert statuses[task_id] is TaskStatus.FAILED
        else:  # never started: safe to run now
            assert statuses[task_id] is TaskStatus.SUCCEEDED
    assert interrupted
    runs_after = runs.read_text().split()
    for task_id in ids["once"]:
        assert runs_after.count(task_id) <= 1  # a non-idempotent task never runs twice
    with sqlite3.connect(data / "journal.db") as db:
        rows = db.execute("SELECT task_id, status, result FROM tasks").fetchall()
    assert len(rows) == 24 and all(r[2] is not None for r in rows)
    for task_id in interrupted:
        info = json.loads(next(r[2] for r in rows if r[0] == task_id))
        assert info["error"]["code"] == "interrupted"
