"""The names DESIGN §4.1 gives users, as a type checker and the running package see them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import skillexec
from skillexec import EngineConfig, SkillExecutionEngine, skill
from tests.conftest import arun

USER_CODE = textwrap.dedent('''
    from __future__ import annotations

    from skillexec import EngineConfig, SkillExecutionEngine, TaskEvent, skill
    from skillexec.reliability.handler import ErrorHandler


    @skill(id="add")
    def add(a: int, b: int = 2) -> int:
        return a + b


    async def main() -> None:
        cfg = EngineConfig(max_concurrency=3)
        async with SkillExecutionEngine(config=cfg) as engine:
            handler: ErrorHandler = engine.errors
            print(handler)
            tid = await engine.submit(add, {"a": 1})
            async for ev in engine.events(tid):
                event: TaskEvent = ev
                print(event.kind, event.final)
''')


def test_user_code_passes_mypy_strict_without_the_pydantic_plugin(tmp_path: Path) -> None:
    # EngineConfig's fields once had positional defaults (Field(None, ...)), which a type
    # checker reading dataclass_transform does not see: every field was "missing".
    (tmp_path / "user.py").write_text(USER_CODE)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "user.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_task_event_is_exported() -> None:
    assert "TaskEvent" in skillexec.__all__
    from skillexec.events import TaskEvent

    assert skillexec.TaskEvent is TaskEvent


@skill(id="typing-add")
def _add(a: int) -> int:
    return a + 1


def test_engine_errors_is_the_error_handler(tmp_path: Path) -> None:
    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            assert engine.errors is engine.error_handler
            assert (await engine.execute(_add, {"a": 1})).output == 2
            await engine.errors.report()
    arun(go())


@pytest.mark.parametrize("given", [{"max_concurrency": 3}, {"skills_dir": "s"}])
def test_engine_config_keeps_its_defaults(given: dict[str, object]) -> None:
    cfg = EngineConfig(**given)  # type: ignore[arg-type]
    assert cfg.default_timeout_s == 60.0 and cfg.data_dir == Path(".skillexec")
    assert cfg.broker_url is None and cfg.default_deadline_s is None
