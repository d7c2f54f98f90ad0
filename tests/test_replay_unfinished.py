"""``tasks replay`` of a task that has not ended: refused while an engine may run it.

Only a stopped process's leftover is run again (and replaced); a task that an engine still
runs, in this process or another, ran a second time at once (side effects twice), and in a
session the second call broke the first.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from skillexec import SkillExecutionEngine, TaskStatus, skill
from skillexec.config import EngineConfig
from skillexec.replay import replay
from tests.conftest import ROOT, arun

RUNS: list[str] = []


@skill(id="slow-note", timeout=30)
async def slow_note(text: str) -> str:
    RUNS.append(text)
    await asyncio.sleep(1.0)
    return text


def test_a_task_this_engine_is_running_is_not_replayed(tmp_path: Path) -> None:
    RUNS.clear()

    async def go() -> None:
        async with SkillExecutionEngine(config=EngineConfig(data_dir=tmp_path / "d")) as e:
            e.register(slow_note)
            task_id = await e.submit("slow-note", {"text": "once"})
            while (await e.status(task_id)).status is not TaskStatus.RUNNING:
                await asyncio.sleep(0.01)
            (out,) = await replay(e, [task_id])
            assert out.new_task_id is None and out.result is None
            assert out.error is not None and "has not ended (running)" in out.error
            assert f"skillexec tasks cancel {task_id}" in out.error
            assert (await e.wait(task_id)).status is TaskStatus.SUCCEEDED
            assert RUNS == ["once"]
            (again,) = await replay(e, [task_id])  # ended: it may run again
            assert again.result is not None and again.result.status is TaskStatus.SUCCEEDED
            assert RUNS == ["once", "once"]

    arun(go())


def test_replaying_a_task_running_in_another_process_is_refused(tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    (skills / "tools" / "scripts").mkdir(parents=True)
    (skills / "tools" / "SKILL.md").write_text("---\nname: tools\ndescription: d\n---\nUse.\n")
    release = skills / "tools" / "release"  # the script runs until the test makes it
    (skills / "tools" / "scripts" / "slow.py").write_text(
        "import os, sys, time\n"
        "end = time.monotonic() + 60\n"
        "while not os.path.exists(sys.argv[1]) and time.monotonic() < end:\n"
        "    time.sleep(0.05)\n"
        "print('done')\n")
    data = tmp_path / "d"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def cli(*args: str) -> list[str]:
        return [sys.executable, "-m", "skillexec", *args, "--data-dir", str(data)]

    first = subprocess.Popen(cli("script", "tools", "scripts/slow.py", str(release), "--json",
                                 "--skills-dir", str(skills)),
                             env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        task_id = _running(cli, env, tmp_path)
        again = subprocess.run(cli("tasks", "replay", task_id, "--skills-dir", str(skills)),
                               env=env, cwd=tmp_path, text=True, capture_output=True,
                               timeout=60, check=False)
        release.write_text("")
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert again.returncode == 2, (again.stdout, again.stderr)
    assert f"task {task_id} not replayed: it has not ended (running)" in again.stderr
    assert "Traceback" not in again.stderr
    assert first.returncode == 0, err
    assert json.loads(out)["status"] == "succeeded"
    listed = subprocess.run(cli("tasks", "list", "--json"), env=env, cwd=tmp_path, text=True,
                            capture_output=True, timeout=60, check=True)
    assert [t["task_id"] for t in json.loads(listed.stdout)] == [task_id]  # run once


def _running(cli: Callable[..., list[str]], env: dict[str, str], cwd: Path) -> str:
    """The id of the one task once the journal says it runs."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = subprocess.run(cli("tasks", "list", "--json"), env=env, cwd=cwd, text=True,
                           capture_output=True, timeout=60, check=False)
        if r.returncode == 0:
            running = [t["task_id"] for t in json.loads(r.stdout) if t["status"] == "running"]
            if running:
                return str(running[0])
        time.sleep(0.1)
    raise AssertionError("the script's task never ran")
