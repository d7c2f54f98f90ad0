"""What an inline skill raises that is not an ordinary Exception (review E faults 1, 7, 8):
``sys.exit()``, KeyboardInterrupt, GeneratorExit, a BaseException of its own, a StopIteration
out of a thread, a CancelledError nobody asked for. Each is the attempt's failure: the task
ends, its waiters wake, and the host application goes on."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from skillexec import SkillExecutionEngine, TaskStatus, skill
from skillexec.task import ExecutionResult


class _OwnBase(BaseException):
    pass


RAISED: dict[str, Callable[[], BaseException]] = {
    "sys.exit": lambda: SystemExit(3),
    "KeyboardInterrupt": KeyboardInterrupt,
    "GeneratorExit": GeneratorExit,
    "own BaseException": lambda: _OwnBase("mine"),
}
CODES = {"sys.exit": "skill_exited"}


def _survive(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro``; what escapes it (the host app's end) fails the test, not the session."""
    try:
        asyncio.run(asyncio.wait_for(coro, 20))
    except BaseException as exc:  # the point: nothing may escape
        pytest.fail(f"the host application got {type(exc).__name__}: {exc!r}")


def _sync_and_async(name: str, make: Callable[[], BaseException]) -> list[Any]:
    def sync_fn() -> None:
        raise make()

    async def async_fn() -> None:
        raise make()

    slug = name.replace(" ", "-").replace(".", "-")
    return [skill(id=f"sync-{slug}", max_retries=2)(sync_fn),
            skill(id=f"async-{slug}", max_retries=2)(async_fn)]


def _failed(r: ExecutionResult, code: str, exception: str) -> None:
    assert r.status is TaskStatus.FAILED, r
    assert r.error is not None and r.error.code == code, r.error
    assert r.error.type.value == "execution_error" and r.error.retryable is False
    assert r.error.details.get("exception") == exception
    assert r.attempts == 1  # not retried


@pytest.mark.parametrize("name", list(RAISED))
def test_a_base_exception_in_an_inline_skill_fails_the_attempt_and_the_app_goes_on(
        tmp_path: Path, name: str) -> None:
    make = RAISED[name]
    exception = type(make()).__name__

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            for fn in _sync_and_async(name, make):
                _failed(await engine.execute(fn, {}), CODES.get(name, "skill_raised"),
                        exception)
                tid = await engine.submit(fn, {})
                _failed(await asyncio.wait_for(engine.wait(tid), 5),
                        CODES.get(name, "skill_raised"), exception)
                assert (await engine.status(tid)).status is TaskStatus.FAILED
            assert engine.running_count == 0
            ok = await engine.execute(skill(id="ok")(lambda: 1), {})
            assert ok.status is TaskStatus.SUCCEEDED
        # Nothing left unfinished for the next engine to recover.
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as again:
            assert not again.recovery.interrupted and not again.recovery.resumed

    _survive(go())


def test_an_exit_call_says_the_code_it_exited_with(tmp_path: Path) -> None:
    @skill(id="exits")
    def exits() -> None:
        sys.exit(2)

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            r = await engine.execute(exits, {})
            assert r.error is not None and r.error.message == "the skill called exit(2)"

    _survive(go())


def test_stop_iteration_from_a_sync_skill_fails_at_once(tmp_path: Path) -> None:
    @skill(id="stopiter", timeout=2, max_retries=2)
    def stopiter() -> int:
        return int(next(iter([])))

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            t0 = time.monotonic()
            r = await engine.execute(stopiter, {})
            assert time.monotonic() - t0 < 1.5  # was: waited out 3 timeouts of 2 s
            _failed(r, "skill_raised", "StopIteration")

    _survive(go())


def test_a_cancelled_error_nobody_asked_for_is_the_skills_failure(tmp_path: Path) -> None:
    @skill(id="inner-cancel", max_retries=2)
    async def inner_cancel() -> int:
        t = asyncio.create_task(asyncio.sleep(10))
        await asyncio.sleep(0)
        t.cancel()
        await t  # its own sub-task, cancelled: CancelledError comes out of the skill
        return 1

    @skill(id="sync-cancel")
    def sync_cancel() -> None:
        raise asyncio.CancelledError

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            for fn in (inner_cancel, sync_cancel):
                r = await engine.execute(fn, {})  # was: CancelledError in this caller
                _failed(r, "skill_raised", "CancelledError")
                assert r.error is not None and "nobody cancelled" in r.error.message
                tid = await engine.submit(fn, {})
                _failed(await engine.wait(tid), "skill_raised", "CancelledError")
            assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    _survive(go())


def test_a_real_cancellation_still_cancels(tmp_path: Path) -> None:
    @skill(id="sleeper")
    async def sleeper() -> None:
        await asyncio.sleep(10)

    @skill(id="sync-sleeper", timeout=5)
    def sync_sleeper() -> None:
        time.sleep(0.5)

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            for fn in (sleeper, sync_sleeper):
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(engine.execute(fn, {}), 0.2)
                tid = await engine.submit(fn, {})
                await asyncio.sleep(0.1)
                assert await engine.cancel(tid)
                assert (await engine.wait(tid)).status is TaskStatus.CANCELLED

    _survive(go())
