"""Kill -9 an engine mid-run, start another on the same journal: nothing accepted is lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from skillexec import ExecutionResult, SkillExecutionEngine, TaskStatus
from skillexec.cli.options import engine_alive
from skillexec.config import load_config
from skillexec.engine import Recovery
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


@pytest.fixture(autouse=True)
def _trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLEXEC_TRUSTED_SKILLS", TRUSTED)


def make_skills(root: Path) -> Path:
    for sid, idem in (("again", "true"), ("once", "false")):
        d = root / "skills" / sid
        d.mkdir(parents=True)
        (d / "skill.json").write_text(MANIFEST.format(id=sid, idem=idem))
        (d / "main.py").write_text(textwrap.dedent(SKILL.format()))
    return root / "skills"


def _killed_mid_run(tmp_path: Path) -> tuple[Path, Path, dict[str, list[str]], Path]:
    """A process accepts 24 tasks, starts some, and is killed (SIGKILL) mid-run."""
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
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return skills, data, json.loads(ids_file.read_text()), runs


def test_sigkill_mid_run_loses_nothing(tmp_path: Path) -> None:
    skills, data, ids, runs = _killed_mid_run(tmp_path)
    started_before = set(runs.read_text().split()) if runs.exists() else set()
    assert started_before, "the kill came before anything ran"

    os.environ["RUNS_FILE"] = str(runs)
    os.environ["SKILLEXEC_TRUSTED_SKILLS"] = TRUSTED

    with sqlite3.connect(data / "journal.db") as db:
        left = dict(db.execute("SELECT task_id, status FROM tasks WHERE finished_at IS NULL"))
    unfinished = set(left)
    # Started as the journal knew it: a kill between a start's record and the skill's
    # first write leaves a started task that runs.txt does not name.
    journal_started = {t for t, s in left.items() if s not in ("pending", "queued")}
    recovery: list[Recovery] = []

    async def resume() -> dict[str, TaskStatus]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=data) as engine:
            recovery.append(engine.recovery)  # what it resumed is said, never silent
            out = {}
            for task_id in ids["again"] + ids["once"]:
                out[task_id] = (await engine.wait(task_id, timeout=30)).status
            return out

    try:
        statuses = arun(resume())
    finally:
        del os.environ["RUNS_FILE"]
        del os.environ["SKILLEXEC_TRUSTED_SKILLS"]

    rec = recovery[0]
    once = set(ids["once"])
    # At most once: the journal held each start of a non-idempotent task before it ran.
    assert started_before & once & unfinished <= journal_started
    assert set(rec.interrupted) == journal_started & once
    assert set(rec.resumed) | set(rec.interrupted) == unfinished and not rec.left
    # every accepted task reached exactly one terminal state
    assert len(statuses) == 24 and all(s.terminal for s in statuses.values())
    for task_id in ids["again"]:  # idempotent: re-run if interrupted, so all succeed
        assert statuses[task_id] is TaskStatus.SUCCEEDED
    interrupted = [t for t in ids["once"] if statuses[t] is TaskStatus.FAILED]
    for task_id in ids["once"]:
        if task_id in journal_started:  # was running: not re-run, failed as interrupted
            assert statuses[task_id] is TaskStatus.FAILED
        else:  # never started (safe to run now), or ended before the kill
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


def test_an_engine_that_does_not_recover_leaves_leftovers_and_cancels_them(
        tmp_path: Path) -> None:
    skills, data, _, runs = _killed_mid_run(tmp_path)
    ran = runs.read_text().split()
    with sqlite3.connect(data / "journal.db") as db:
        unfinished = {r[0] for r in db.execute(
            "SELECT task_id FROM tasks WHERE finished_at IS NULL")}
    assert unfinished
    first = sorted(unfinished)[0]

    async def look() -> tuple[Recovery, TaskStatus, TaskStatus]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=data,
                                        config=load_config(recover=False)) as engine:
            assert await engine.cancel(first)  # its engine is gone: this one ends it
            mine = await engine.execute("again", {"n": 99, "seconds": 0})
            return engine.recovery, (await engine.wait(first, timeout=5)).status, mine.status

    os.environ["RUNS_FILE"] = str(runs)
    os.environ["SKILLEXEC_TRUSTED_SKILLS"] = TRUSTED  # they ask for inline
    try:
        recovery, cancelled, mine = arun(look())
    finally:
        del os.environ["RUNS_FILE"]
        del os.environ["SKILLEXEC_TRUSTED_SKILLS"]
    assert set(recovery.left) == unfinished and not recovery.resumed
    assert cancelled is TaskStatus.CANCELLED and mine is TaskStatus.SUCCEEDED
    assert len(runs.read_text().split()) == len(ran) + 1  # only its own call ran
    with sqlite3.connect(data / "journal.db") as db:
        still = {r[0] for r in db.execute(
            "SELECT task_id FROM tasks WHERE finished_at IS NULL")}
    assert still == unfinished - {first}  # the others wait for an engine that recovers


def test_cancel_all_ends_every_task_in_the_journal(tmp_path: Path) -> None:
    skills = make_skills(tmp_path)
    os.environ["RUNS_FILE"] = str(tmp_path / "runs.txt")
    os.environ["SKILLEXEC_TRUSTED_SKILLS"] = TRUSTED  # they ask for inline

    async def go() -> tuple[list[str], list[TaskStatus], float]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "data",
                                        max_concurrency=2) as engine:
            ids = [await engine.submit("once", {"n": n, "seconds": 30}) for n in range(5)]
            await asyncio.sleep(0.2)  # two running, three queued
            started = time.monotonic()
            ended = await engine.cancel_all(grace_s=0)
            took = time.monotonic() - started
            return ended, [(await engine.wait(t)).status for t in ids], took

    try:
        ended, statuses, took = arun(go())
    finally:
        del os.environ["RUNS_FILE"]
        del os.environ["SKILLEXEC_TRUSTED_SKILLS"]
    assert len(ended) == 5 and statuses == [TaskStatus.CANCELLED] * 5 and took < 5
    with sqlite3.connect(tmp_path / "data" / "journal.db") as db:
        rows = db.execute("SELECT status, finished_at FROM tasks").fetchall()
    assert len(rows) == 5 and all(s == "cancelled" and f for s, f in rows)


DEADLINE_DRIVER = """
import asyncio, os, sys
from skillexec import SkillExecutionEngine

async def main():
    async with SkillExecutionEngine(skills_dir=sys.argv[1], data_dir=sys.argv[2]) as engine:
        task_id = await engine.submit("again", {"n": 1, "seconds": 60}, deadline=4.0)
        while not os.path.exists(os.environ["RUNS_FILE"]):
            await asyncio.sleep(0.01)
        print(task_id, flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_a_resumed_task_keeps_its_deadline(tmp_path: Path) -> None:
    """The deadline is journaled: the engine that resumes the task ends it on time."""
    skills = make_skills(tmp_path)
    data, runs = tmp_path / "data", tmp_path / "runs.txt"
    env = {**os.environ, "RUNS_FILE": str(runs), "PYTHONPATH": str(ROOT / "src"),
           "SKILLEXEC_TRUSTED_SKILLS": TRUSTED}
    proc = subprocess.Popen([sys.executable, "-c", DEADLINE_DRIVER, str(skills), str(data)],
                            stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        task_id = proc.stdout.readline().strip()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert task_id and runs.read_text().split() == [task_id]  # killed while it ran

    async def resume() -> tuple[Recovery, ExecutionResult]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=data) as engine:
            return engine.recovery, await engine.wait(task_id, timeout=20)

    os.environ["RUNS_FILE"] = str(runs)
    try:
        recovery, result = arun(resume())
    finally:
        del os.environ["RUNS_FILE"]
    assert recovery.resumed == (task_id,)
    assert result.status is TaskStatus.TIMED_OUT and result.error is not None
    assert result.error.code == "deadline_exceeded"
    assert result.error.details["deadline_s"] == 4.0
    assert result.finished_at is not None
    assert result.finished_at - result.created_at < 4.0 + 2.0  # counted from acceptance


def test_an_engine_does_not_recover_the_tasks_of_one_still_running(tmp_path: Path) -> None:
    """Engine ``a`` holds the data directory, ``b`` starts beside it (no lock) and runs a
    call; ``a`` stops. ``c``, starting now, took ``b``'s running task for a stopped engine's
    leftover: it ended it failed/interrupted while ``b`` still ran it (``b``'s own end then
    lost, the journal contradicting what ``b``'s caller was told); with recover=false it
    reported it as left by a process that stopped."""
    skills = make_skills(tmp_path)
    data = tmp_path / "data"
    os.environ["RUNS_FILE"] = str(tmp_path / "runs.txt")

    async def go() -> tuple[Recovery, Recovery, ExecutionResult, Recovery]:
        a = SkillExecutionEngine(skills_dir=skills, data_dir=data)
        await a.start()
        async with SkillExecutionEngine(skills_dir=skills, data_dir=data) as b:
            await a.close()
            task_id = await b.submit("once", {"n": 1, "seconds": 1.5})
            await asyncio.sleep(0.3)  # running in b
            assert engine_alive(data)  # `tasks purge` and `keys rotate-master` wait for b
            async with SkillExecutionEngine(skills_dir=skills, data_dir=data) as c:
                recovered = c.recovery
            async with SkillExecutionEngine(skills_dir=skills, data_dir=data,
                                            config=load_config(recover=False)) as d:
                left = d.recovery
            result = await b.wait(task_id, timeout=10)
        async with SkillExecutionEngine(skills_dir=skills, data_dir=data) as e:
            alone = e.recovery  # nobody else runs: nothing is left to recover
        assert not engine_alive(data)
        return recovered, left, result, alone

    try:
        recovered, left, result, alone = arun(go())
    finally:
        del os.environ["RUNS_FILE"]
    assert recovered == Recovery() and left == Recovery(), (recovered, left)
    assert result.status is TaskStatus.SUCCEEDED and result.output == {"n": 1}
    assert alone == Recovery()
    with sqlite3.connect(data / "journal.db") as db:
        rows = db.execute("SELECT status FROM tasks").fetchall()
    assert rows == [("succeeded",)]


def test_an_engine_alone_still_recovers_a_stopped_one_s_tasks(tmp_path: Path) -> None:
    """The check above needs every engine's shared hold: one killed holds nothing."""
    skills, data, ids, _ = _killed_mid_run(tmp_path)

    async def go() -> Recovery:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=data,
                                        config=load_config(recover=False)) as engine:
            return engine.recovery

    os.environ["RUNS_FILE"] = str(tmp_path / "runs.txt")
    try:
        rec = arun(go())
    finally:
        del os.environ["RUNS_FILE"]
    assert rec.left and set(rec.left) <= set(ids["again"] + ids["once"])


def test_a_recovered_task_is_admitted_again_under_the_folder_found_at_restart(
        tmp_path: Path) -> None:
    """Killed mid-run; before the restart a second folder claims the trusted id ``again``
    (at a higher version, asking for inline). Its resumed tasks end refused, naming both
    folders, every one of them terminal: the claim made no trusted id of it, and none ran."""
    skills, data, _, runs = _killed_mid_run(tmp_path)
    with sqlite3.connect(data / "journal.db") as db:
        left = {t for (t,) in db.execute(
            "SELECT task_id FROM tasks WHERE finished_at IS NULL AND skill_id = 'again'")}
    assert left, "every task of 'again' ended before the kill"
    claimer = skills / "zz-claimer"
    claimer.mkdir()
    (claimer / "skill.json").write_text(MANIFEST.format(id="again", idem="true").replace(
        '"1.0.0"', '"9.0.0"'))
    (claimer / "main.py").write_text(
        f"def execute(input_data, context):\n    open({str(tmp_path / 'hijack')!r}, 'w')\n")
    os.environ["RUNS_FILE"] = str(runs)

    async def resume() -> dict[str, ExecutionResult]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=data) as engine:
            return {t: await engine.wait(t, timeout=30) for t in left}

    try:
        results = arun(resume())
    finally:
        del os.environ["RUNS_FILE"]
    for result in results.values():
        assert result.status is TaskStatus.FAILED, result
        assert result.error is not None and result.error.code == "isolation_not_allowed"
        assert "zz-claimer" in result.error.message
    assert not (tmp_path / "hijack").exists()
