"""Replays at the same moment run each dead letter once.

The ``replayed`` mark used to be journaled once the new task ended: a second ``tasks replay
--all-failed`` meanwhile (a cron job beside an operator) read the same dead letters as not
replayed and ran every one of them again.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus, skill
from skillexec.config import EngineConfig
from skillexec.reliability.deadletter import dead_letters
from skillexec.replay import replay
from tests.conftest import ROOT, arun

RUNS: list[int] = []


@skill(id="sender", timeout=10, max_retries=0)
async def sender(n: int) -> int:
    RUNS.append(n)  # a send, a payment: what must not happen twice
    await asyncio.sleep(0.2)
    raise ConnectionError("the backend is down")


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


def _config(tmp_path: Path, url: str | None) -> EngineConfig:
    return EngineConfig(data_dir=tmp_path / "d", journal_url=url,
                        reliability={"dead_letters": True})


def test_two_replays_of_every_dead_letter_at_once_run_each_once(
        tmp_path: Path, journal_url: str | None) -> None:
    RUNS.clear()

    async def go() -> None:
        async with SkillExecutionEngine(config=_config(tmp_path, journal_url)) as a, \
                SkillExecutionEngine(config=_config(tmp_path, journal_url)) as b:
            a.register(sender)
            b.register(sender)
            failed = [(await a.execute("sender", {"n": n})).task_id for n in range(4)]
            await a.error_handler.flush()
            # Both read the dead letters before either replays, as two commands started
            # together do.
            seen_a = [d["task_id"] for d in await dead_letters(a.journal)]
            seen_b = [d["task_id"] for d in await dead_letters(b.journal)]
            assert seen_a == seen_b == failed
            RUNS.clear()
            ours, theirs = await asyncio.gather(replay(a, seen_a),
                                                replay(b, seen_b))
            runs = [o for o in ours + theirs if o.new_task_id is not None]
            assert sorted(o.original_task_id for o in runs) == sorted(failed)  # each once
            assert sorted(RUNS) == [0, 1, 2, 3]
            assert all(o.result is not None and o.result.status is TaskStatus.FAILED
                       for o in runs)
            for o in ours + theirs:
                if o.new_task_id is None:
                    assert o.error is not None and "another replay" in o.error, o.error
            await a.error_handler.flush()
            await b.error_handler.flush()
            left = {d["task_id"] for d in await dead_letters(a.journal)}
            assert left == {o.new_task_id for o in runs}  # the replays' own failures
            # Later, a task named by its id runs again: the replays have ended.
            RUNS.clear()
            (again,) = await replay(b, [failed[0]])
            assert again.new_task_id is not None and RUNS == [0]

    arun(go())


def test_two_replay_commands_started_together_run_each_dead_letter_once(
        tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    (skills / "tools" / "scripts").mkdir(parents=True)
    (skills / "tools" / "SKILL.md").write_text("---\nname: tools\ndescription: d\n---\nUse.\n")
    (skills / "tools" / "scripts" / "fail.py").write_text(
        "import sys, time\ntime.sleep(float(sys.argv[1]))\nsys.exit('boom')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def cli(*args: str) -> list[str]:
        return [sys.executable, "-m", "skillexec", *args, "--data-dir", str(tmp_path / "d")]

    def ran(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cli(*args), env=env, cwd=tmp_path, text=True,
                              capture_output=True, timeout=120, check=False)

    for _ in range(3):
        r = ran("script", "tools", "scripts/fail.py", "1", "--skills-dir", str(skills))
        assert r.returncode == 1, r.stderr
    both = [subprocess.Popen(cli("tasks", "replay", "--all-failed", "--json",
                                 "--skills-dir", str(skills)),
                             env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in both]
    replays = [json.loads(line) for out, _ in outs for line in out.splitlines()]
    assert all("Traceback" not in err for _, err in outs), outs
    assert len([o for o in replays if o["new_task_id"]]) == 3, outs
    listed = ran("tasks", "list", "--json")
    assert len(json.loads(listed.stdout)) == 6  # 3 letters, each replayed once
