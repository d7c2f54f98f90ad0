"""cancel() and wait() answer consistently: cancel returns once the task has ended (its
status says cancelled, and a second cancel is False, as for any ended task); an unknown
task id is a TaskNotFoundError everywhere (cancel said False, "already finished", while
wait and events raised SkillNotFoundError, a *skill* error of type dependency_error); a
negative wait timeout is refused; a wait that gives up is a WaitTimeoutError (a timeout,
and a builtin TimeoutError), not a resource_error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus, skill
from skillexec.errors import (
    ErrorType,
    ParameterError,
    SkillNotFoundError,
    TaskNotFoundError,
    WaitTimeoutError,
)

pytestmark = pytest.mark.timeout(60)


@skill(id="cw-slow", timeout=30)
async def slow(n: int = 0) -> int:
    await asyncio.sleep(1)
    return n


@skill(id="cw-cached", timeout=30, cacheable=True)
async def cached(n: int = 0) -> int:
    await asyncio.sleep(1)
    return n


def _engine(tmp_path: Path) -> SkillExecutionEngine:
    engine = SkillExecutionEngine(data_dir=tmp_path / "d")
    engine.register(slow)
    engine.register(cached)
    return engine


def test_cancel_answers_once_the_task_ended(tmp_path: Path) -> None:
    async def main() -> None:
        async with _engine(tmp_path) as engine:
            task_id = await engine.submit(slow)
            await asyncio.sleep(0.1)
            assert await engine.cancel(task_id) is True
            assert (await engine.status(task_id)).status is TaskStatus.CANCELLED
            assert await engine.cancel(task_id) is False  # it has ended
            # wait_s=0: at once; asked again meanwhile, it is still being cancelled
            task_id = await engine.submit(slow)
            await asyncio.sleep(0.1)
            assert await engine.cancel(task_id, wait_s=0) is True
            assert await engine.wait(task_id, timeout=5)
            assert await engine.cancel(task_id, wait_s=0) is False
            with pytest.raises(ParameterError):
                await engine.cancel(task_id, wait_s=-1)
            # A follower of an identical call ends at once, its leader runs on.
            leader = asyncio.ensure_future(engine.execute(cached, {"n": 1}))
            await asyncio.sleep(0.1)
            follower = await engine.submit(cached, {"n": 1})
            assert await engine.cancel(follower, wait_s=0) is True
            assert (await engine.status(follower)).status is TaskStatus.CANCELLED
            assert (await leader).output == 1

    asyncio.run(main())


def test_unknown_ids_and_wait_timeouts(tmp_path: Path) -> None:
    async def main() -> None:
        async with _engine(tmp_path) as engine:
            for call in (engine.cancel("nope"), engine.wait("nope", timeout=1),
                         engine.status("nope"), engine.history("nope")):
                with pytest.raises(TaskNotFoundError) as unknown:
                    await call
                assert not isinstance(unknown.value, SkillNotFoundError)
                assert unknown.value.code == "task_not_found"
                assert unknown.value.error_type is not ErrorType.DEPENDENCY
                assert "no task with id 'nope'" in unknown.value.message
            with pytest.raises(TaskNotFoundError):
                async for _ in engine.events("nope"):
                    pass
            task_id = await engine.submit(slow, {"n": 6})
            for bad in (-1, float("nan"), "1"):
                with pytest.raises(ParameterError, match="timeout must be"):
                    await engine.wait(task_id, timeout=bad)  # type: ignore[arg-type]
            with pytest.raises(WaitTimeoutError) as gave_up:
                await engine.wait(task_id, timeout=0.05)
            assert isinstance(gave_up.value, TimeoutError)  # as asyncio.wait_for's
            assert gave_up.value.code == "wait_timeout"
            assert gave_up.value.error_type is ErrorType.TIMEOUT
            assert (await engine.status(task_id)).status is TaskStatus.RUNNING
            assert (await engine.wait(task_id, timeout=5)).output == 6

    asyncio.run(main())
