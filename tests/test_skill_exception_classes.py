"""How a skill's exceptions are classified (review E fault 17): an ExceptionGroup by its
leaves, an exception whose ``__str__`` raises, a TimeoutError of the skill's own code told
apart from the engine's timeout. Inline and in a child alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from skillexec import EngineConfig, ErrorType, SkillExecutionEngine, TaskStatus, skill
from skillexec.task import ExecutionResult
from tests.conftest import arun


class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str boom")


@skill(id="group-net", max_retries=1)
async def group_net() -> None:
    async def down(host: str) -> None:
        raise ConnectionResetError(f"{host} reset the connection")

    async with asyncio.TaskGroup() as tg:  # raises an ExceptionGroup of both
        tg.create_task(down("a"))
        tg.create_task(down("b"))


@skill(id="group-mixed", max_retries=1)
def group_mixed() -> None:
    raise ExceptionGroup("two", [ConnectionError("c"), ValueError("bad value")])


@skill(id="bad-str")
def bad_str() -> None:
    raise BadStr


@skill(id="own-timeout", max_retries=0, timeout=30)
async def own_timeout() -> None:
    await asyncio.wait_for(asyncio.sleep(5), 0.01)  # its HTTP client's timeout, say


@skill(id="engine-timeout", max_retries=0, timeout=0.05)
async def engine_timeout() -> None:
    await asyncio.sleep(5)


def test_an_exception_group_is_classified_by_its_leaves(tmp_path: Path) -> None:
    async def go() -> tuple[ExecutionResult, ExecutionResult]:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            return await engine.execute(group_net, {}), await engine.execute(group_mixed, {})
    net, mixed = arun(go())
    assert net.error is not None and net.error.type is ErrorType.NETWORK, net.error
    assert net.error.code == "connection_failed" and net.error.retryable
    assert net.attempts == 2  # retried, as one ConnectionError is
    assert "a reset the connection" in net.error.message
    assert mixed.error is not None and mixed.error.code == "skill_raised"  # ValueError's
    assert not mixed.error.retryable and mixed.attempts == 1
    assert mixed.error.details["leaves"] == ["connection_failed", "skill_raised"]


def test_an_exception_whose_str_raises_is_still_the_skills_failure(tmp_path: Path) -> None:
    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            return await engine.execute(bad_str, {})
    r = arun(go())
    assert r.status is TaskStatus.FAILED and r.error is not None
    assert r.error.code == "skill_raised", r.error  # was engine_error "internal error"
    assert r.error.message.startswith("BadStr: ")


def test_a_timeout_of_the_skills_own_code_is_told_from_the_engines(tmp_path: Path) -> None:
    async def go() -> tuple[ExecutionResult, ExecutionResult]:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            return (await engine.execute(own_timeout, {}),
                    await engine.execute(engine_timeout, {}))
    own, engine = arun(go())
    assert own.error is not None and engine.error is not None
    assert own.error.code == "operation_timeout" and engine.error.code == "execution_timeout"
    assert own.error.message.startswith("the skill's own operation timed out"), own.error
    assert "did not finish within" in engine.error.message


@pytest.mark.parametrize(("raised", "code", "start"), [
    ("ExceptionGroup('g', [ConnectionError('x'), ConnectionResetError('y')])",
     "connection_failed", "ExceptionGroup: ConnectionError: x"),
    ("TimeoutError('read')", "operation_timeout", "the skill's own operation timed out"),
])
def test_a_child_reports_them_the_same(tmp_path: Path, raised: str, code: str,
                                        start: str) -> None:
    folder = tmp_path / "skills" / "raiser"
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(orjson.dumps({
        "id": "raiser", "name": "Raiser", "version": "1.0.0", "description": "raises",
        "entry_point": "main:execute", "parameters_schema": {},
        "execution": {"isolation": "process", "max_retries": 0}}).decode())
    (folder / "main.py").write_text(f"def execute(input_data):\n    raise {raised}\n")
    config = EngineConfig(data_dir=tmp_path / "d", skills_dir=tmp_path / "skills",
                          isolation={"trusted_skills": ["raiser"]})

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(config=config) as engine:
            return await engine.execute("raiser")
    r = arun(go())
    assert r.error is not None and r.error.code == code, r.error
    assert r.error.retryable and r.error.message.startswith(start), r.error.message
