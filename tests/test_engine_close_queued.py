"""close() with calls still queued when its grace ends: none of them starts (a slot freed
by the tasks close cancels used to pop the queue, and a sync skill then failed
"cannot schedule new futures after shutdown" as a *skill* error), they stay queued in the
journal for the next engine, which resumes and runs them, and their ``execute`` callers
get ``engine_closed`` instead of waiting for ever."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus, skill
from skillexec.errors import SkillExecError

pytestmark = pytest.mark.timeout(60)

STARTED: list[int] = []


@skill(id="close-slow", timeout=30)
async def slow(n: int) -> int:
    STARTED.append(n)
    await asyncio.sleep(3)
    return n


@skill(id="close-sync", timeout=30)
def sync_quick(n: int) -> int:
    STARTED.append(n)
    return n


def _engine(data: Path, **options: int) -> SkillExecutionEngine:
    engine = SkillExecutionEngine(data_dir=data, **options)
    engine.register(slow)
    engine.register(sync_quick)
    return engine


async def _call(engine: SkillExecutionEngine, fn: object, n: int) -> object:
    try:
        return await engine.execute(fn, {"n": n})  # type: ignore[arg-type]
    except SkillExecError as exc:
        return exc


def test_queued_calls_stay_queued_and_their_callers_hear_engine_closed(
        tmp_path: Path) -> None:
    STARTED.clear()

    async def main() -> None:
        engine = _engine(tmp_path / "d", max_concurrency=1)
        await engine.start()
        running = await engine.submit(slow, {"n": 0})
        callers = [asyncio.ensure_future(_call(engine, sync_quick, 1)),
                   asyncio.ensure_future(_call(engine, slow, 2))]
        await asyncio.sleep(0.2)
        assert engine.queue_depth == 2
        await engine.close(grace_s=0.3)
        done, _ = await asyncio.wait(callers, timeout=5)
        assert done == set(callers), "an execute() caller still waits after close()"
        queued_ids = []
        for caller in callers:
            exc = caller.result()
            assert isinstance(exc, SkillExecError), exc
            assert exc.code == "engine_closed" and "journal" in exc.message
            queued_ids.append(exc.details["task_id"])
        assert STARTED == [0], "a queued call started after close() cut the running ones"

        again = _engine(tmp_path / "d")
        async with again:
            assert set(queued_ids) <= set(again.recovery.resumed)
            assert running in again.recovery.interrupted
            for task_id in queued_ids:
                result = await again.wait(task_id, timeout=10)
                assert result.status is TaskStatus.SUCCEEDED, result.error
        assert sorted(STARTED) == [0, 1, 2]

    asyncio.run(main())


def test_a_waiter_of_a_submitted_task_left_running_hears_engine_closed(
        tmp_path: Path) -> None:
    async def main() -> None:
        engine = _engine(tmp_path / "d", max_concurrency=2)
        await engine.start()
        task_id = await engine.submit(slow, {"n": 5})
        waiter = asyncio.ensure_future(engine.wait(task_id))
        await asyncio.sleep(0.2)
        await engine.close(grace_s=0.2)
        done, _ = await asyncio.wait({waiter}, timeout=5)
        assert done, "wait() still waits after close()"
        exc = waiter.exception()
        assert isinstance(exc, SkillExecError) and exc.code == "engine_closed"

    asyncio.run(main())
