"""``tasks replay``: what it runs again is the request that was made, or nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from skillexec import SkillExecutionEngine, TaskStatus, skill
from skillexec.config import EngineConfig
from skillexec.replay import replay
from tests.conftest import ROOT, arun

RAN: list[dict[str, object]] = []


@skill(id="note", timeout=5)
def note(text: str = "default", times: int = 1) -> str:
    RAN.append({"text": text, "times": times})
    return text * times


def test_a_rejected_task_is_not_replayed_with_parameters_it_never_had(tmp_path: Path) -> None:
    """A refusal is journaled without its parameters (they may be what was wrong), so a
    replay ran the skill with none: here its defaults, a call nobody made."""
    RAN.clear()

    async def go() -> None:
        async with SkillExecutionEngine(config=EngineConfig(data_dir=tmp_path / "d")) as e:
            e.register(note)
            refused = await e.execute("note", {"text": "hi", "times": "many"})
            assert refused.status is TaskStatus.REJECTED
            (out,) = await replay(e, [refused.task_id])
            assert out.new_task_id is None and out.result is None
            assert out.error is not None and "rejected" in out.error
            assert "parameters" in out.error
            assert RAN == []

    arun(go())


def test_replaying_a_rejected_script_call_through_the_cli_says_why_not(tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    (skills / "tools" / "scripts").mkdir(parents=True)
    (skills / "tools" / "SKILL.md").write_text("---\nname: tools\ndescription: d\n---\nUse.\n")
    (skills / "tools" / "scripts" / "echo.py").write_text(
        "import sys\nprint(sys.argv[1])\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "skillexec", *args, "--data-dir",
                               str(tmp_path / "d")], env=env, cwd=tmp_path, text=True,
                              capture_output=True, timeout=60, check=False)

    first = cli("script", "tools", "scripts/echo.py", "hello", "--skills-dir", str(empty),
                "--json")
    assert first.returncode == 2, first.stderr
    task_id = json.loads(first.stdout)["task_id"]
    again = cli("tasks", "replay", task_id, "--skills-dir", str(skills))
    assert again.returncode == 2, (again.stdout, again.stderr)
    assert "rejected" in again.stderr and "Traceback" not in again.stderr
    assert "IndexError" not in again.stdout + again.stderr  # run without its argument
