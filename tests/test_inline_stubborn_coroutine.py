"""An async inline skill that ignores its cancellation: its timeout still ends the attempt
(``timed_out``, ``details.attempt_may_still_run``, a grace after the timeout), the caller's
own cancellation (``asyncio.wait_for``/``asyncio.timeout`` around ``execute``) still frees
the caller, and ``close()`` still ends. Before, the coroutine ran in the caller's own task
and held it: ``execute`` never returned, its timeout did nothing, ``close()`` hung."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus, skill
from skillexec.runtime.runners.coroutine_guard import GRACE_S

pytestmark = pytest.mark.timeout(60)

GAVE_IN: list[str] = []


async def _ignore_cancellation(name: str, for_s: float) -> None:
    """Swallow every cancellation for ``for_s`` seconds, then give in (a test must end)."""
    end = time.monotonic() + for_s
    while time.monotonic() < end:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            pass
    GAVE_IN.append(name)


@skill(id="stubborn", timeout=0.5, max_retries=0)
async def stubborn() -> str:
    await _ignore_cancellation("stubborn", 4)
    return "late"


@skill(id="stubborn-slow", timeout=30, max_retries=0)
async def stubborn_slow() -> str:
    await _ignore_cancellation("stubborn-slow", 4)
    return "late"


@skill(id="late-answer", timeout=0.3, max_retries=0)
async def late_answer() -> str:
    try:
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        return "swallowed"  # answers after its deadline
    return "never"


@skill(id="own-timeout", timeout=5)
async def own_timeout() -> str:
    try:
        async with asyncio.timeout(0.05):  # a timeout of its own, caught: not the engine's
            await asyncio.sleep(1)
    except TimeoutError:
        await asyncio.sleep(0.05)
        return "handled"
    return "no"


def _engine(tmp_path: Path) -> SkillExecutionEngine:
    engine = SkillExecutionEngine(data_dir=tmp_path / "d")
    for fn in (stubborn, stubborn_slow, late_answer, own_timeout):
        engine.register(fn)
    return engine


def test_its_timeout_ends_the_attempt_and_the_coroutine_is_let_go(tmp_path: Path) -> None:
    GAVE_IN.clear()

    async def main() -> None:
        async with _engine(tmp_path) as engine:
            t0 = time.monotonic()
            r = await asyncio.wait_for(engine.execute(stubborn), 10)
            took = time.monotonic() - t0
            assert r.status is TaskStatus.TIMED_OUT and r.error is not None
            assert r.error.code == "execution_timeout"
            assert r.error.details["attempt_may_still_run"] is True
            assert "may still be running" in r.error.message
            assert 0.5 + GRACE_S - 0.1 < took < 0.5 + GRACE_S + 1.0
            inline = engine._pipeline.runners["inline"]  # the count is the runner's
            assert getattr(inline, "coroutines_stuck") == 1
            # Operators see it where they see stuck threads: the Prometheus scrape.
            assert "skillexec_inline_coroutines_stuck 1.0" in engine.monitor.prometheus_text()
            # Its end is still counted: the count follows the coroutine.
            end = time.monotonic() + 10
            while getattr(inline, "coroutines_stuck") and time.monotonic() < end:
                await asyncio.sleep(0.05)
            assert getattr(inline, "coroutines_stuck") == 0 and GAVE_IN == ["stubborn"]
            assert "skillexec_inline_coroutines_stuck 0.0" in engine.monitor.prometheus_text()

            r = await engine.execute(late_answer)  # it answered after its deadline
            assert r.status is TaskStatus.TIMED_OUT, r.output
            assert "attempt_may_still_run" not in r.error.details  # type: ignore[union-attr]
            r = await engine.execute(own_timeout)  # its own asyncio.timeout is its own
            assert r.status is TaskStatus.SUCCEEDED and r.output == "handled"

    asyncio.run(main())


def test_a_callers_cancellation_frees_it_and_leaves_it_unharmed(tmp_path: Path) -> None:
    async def main() -> None:
        async with _engine(tmp_path) as engine:
            t0 = time.monotonic()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(engine.execute(stubborn_slow), 0.3)
            assert time.monotonic() - t0 < 0.3 + GRACE_S + 1.0
            # The same with asyncio.timeout, whose task goes on afterwards: no cancellation
            # of the skill's (its 30 s timeout) reaches it later.
            me = asyncio.current_task()
            assert me is not None
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await engine.execute(stubborn_slow)
            assert me.cancelling() == 0
            await asyncio.sleep(0.2)
            r = await engine.execute(own_timeout)
            assert r.ok
            await asyncio.sleep(0.5)
            ends = {t.status for t in await engine.tasks(skill_id="stubborn-slow")}
            assert ends == {TaskStatus.CANCELLED}

    asyncio.run(main())


def test_close_is_bounded_and_drops_what_was_let_go(tmp_path: Path) -> None:
    async def main() -> None:
        engine = _engine(tmp_path)
        await engine.start()
        await engine.submit(stubborn_slow)
        await asyncio.sleep(0.2)
        t0 = time.monotonic()
        await asyncio.wait_for(engine.close(grace_s=0.3), 10)
        assert time.monotonic() - t0 < 0.3 + GRACE_S + 1.5

    t0 = time.monotonic()
    asyncio.run(main())  # its end does not wait for the coroutine either
    assert time.monotonic() - t0 < 4
