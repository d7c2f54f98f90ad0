"""Middleware through the public API: the hook index, its isolation of failing hooks, the
services a middleware is given, and changes while the engine runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from skillexec import EngineConfig, SkillExecutionEngine, TaskStatus, skill
from skillexec.errors import ParameterError
from skillexec.middleware import Middleware
from skillexec.services import Services
from skillexec.skills.model import Skill
from skillexec.task import ExecutionResult, ExecutionTask
from tests.conftest import arun


@skill(id="double")
async def double(n: int) -> int:
    return 2 * n


def _engine(tmp_path: Path, *middleware: Middleware) -> SkillExecutionEngine:
    return SkillExecutionEngine(config=EngineConfig(data_dir=tmp_path / "d", journal=False),
                                middleware=middleware)


class Broken(Middleware):
    """Every hook raises: the calls must go on as if it were not there."""

    def on_submit(self, task: ExecutionTask, skill: Skill) -> None:
        raise RuntimeError("on_submit broke")

    async def before_attempt(self, task: ExecutionTask, attempt: Any) -> None:
        raise RuntimeError("before_attempt broke")

    def after_attempt(self, task: ExecutionTask, attempt: Any, outcome: Any) -> None:
        raise RuntimeError("after_attempt broke")

    async def on_finish(self, task: ExecutionTask, result: ExecutionResult) -> None:
        raise RuntimeError("on_finish broke")


class Recorder(Middleware):
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.services: Services | None = None
        self.closed = False

    async def on_start(self, services: Services) -> None:
        self.services = services

    def on_close(self) -> None:
        self.closed = True

    def on_finish(self, task: ExecutionTask, result: ExecutionResult) -> None:
        self.seen.append(task.task_id)


def test_a_failing_hook_is_isolated_logged_and_counted(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> tuple[ExecutionResult, dict[str, int]]:
        async with _engine(tmp_path, Broken()) as engine:
            engine.register(double)
            result = await engine.execute("double", {"n": 21})
            return result, dict(engine.middleware.failures)

    result, failures = arun(go())
    assert result.status is TaskStatus.SUCCEEDED and result.output == 42
    assert failures == {"Broken.on_submit": 1, "Broken.before_attempt": 1,
                        "Broken.after_attempt": 1, "Broken.on_finish": 1}
    assert "before_attempt broke" in caplog.text  # logged with its traceback


def test_a_refusal_in_on_submit_still_rejects_the_call(tmp_path: Path) -> None:
    class Refuses(Middleware):
        def on_submit(self, task: ExecutionTask, skill: Skill) -> None:
            raise ParameterError("no doubling today", code="refused_by_policy")

    async def go() -> ExecutionResult:
        async with _engine(tmp_path, Refuses()) as engine:
            engine.register(double)
            return await engine.execute("double", {"n": 1})

    result = arun(go())
    assert result.status is TaskStatus.REJECTED
    assert result.error is not None and result.error.code == "refused_by_policy"


def test_middleware_gets_services_at_start_and_is_closed(tmp_path: Path) -> None:
    rec = Recorder()

    async def go() -> SkillExecutionEngine:
        async with _engine(tmp_path, rec) as engine:
            engine.register(double)
            assert rec.services is engine.services
            assert rec.services.isolation_of(engine.skills.get("double")) == "inline"
            r = await engine.execute("double", {"n": 2})
            assert rec.seen == [r.task_id] and not rec.closed
            return engine

    arun(go())
    assert rec.closed


def test_middleware_added_and_removed_while_running(tmp_path: Path) -> None:
    late = Recorder()

    async def go() -> list[str]:
        async with _engine(tmp_path) as engine:
            engine.register(double)
            first = await engine.execute("double", {"n": 1})
            engine.middleware.add(late)  # started now: an async on_start in the background
            await asyncio.sleep(0.01)
            assert late.services is engine.services
            second = await engine.execute("double", {"n": 2})
            replacement = Recorder()
            engine.middleware.replace(late, replacement)
            assert late.closed  # replaced: closed at once (a plain on_close)
            await asyncio.sleep(0.01)
            assert replacement.services is engine.services
            third = await engine.execute("double", {"n": 3})
            assert engine.middleware.remove(replacement)
            assert replacement.closed and not engine.middleware.remove(replacement)
            await engine.execute("double", {"n": 4})
            assert first.task_id not in late.seen and replacement.seen == [third.task_id]
            return [second.task_id]

    assert late.seen == arun(go())
