"""Timed waits on the shared deadlines (skillexec.pipeline.deadlines): each wait gives up at
its own timeout, whatever the order the waits came in, and ended waits do not pile up."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, skill
from skillexec.errors import WaitTimeoutError
from skillexec.pipeline.deadlines import Deadlines
from tests.conftest import arun


@skill(id="slow")
async def slow(seconds: float = 0.6) -> float:
    await asyncio.sleep(seconds)
    return seconds


def test_a_short_wait_after_a_long_one_times_out_on_time(tmp_path: Path) -> None:
    async def main() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "data") as e:
            e.register(slow)
            task_id = await e.submit("slow")
            long_wait = asyncio.ensure_future(e.wait(task_id, timeout=30))
            await asyncio.sleep(0)  # the long wait's deadline is armed first
            t0 = time.monotonic()
            with pytest.raises(WaitTimeoutError) as info:
                await e.wait(task_id, timeout=0.05)
            assert info.value.code == "wait_timeout"
            assert 0.04 <= time.monotonic() - t0 < 0.4
            short = [asyncio.ensure_future(e.wait(task_id, timeout=s))
                     for s in (0.2, 0.1, 0.15)]
            for waited in short:
                with pytest.raises(WaitTimeoutError):
                    await waited
            assert (await long_wait).ok  # the long wait still hears the end
            assert (await e.wait(task_id, timeout=1)).ok  # ended: answered at once
    arun(main())


def test_ended_waits_are_swept_off_the_heap() -> None:
    async def main() -> None:
        deadlines = Deadlines(asyncio.get_running_loop())
        for _ in range(2000):
            woken = asyncio.get_running_loop().create_future()
            deadlines.add(60.0, woken)
            woken.set_result(None)
            deadlines.ended()
        assert len(deadlines._heap) < 600
        late = asyncio.get_running_loop().create_future()
        deadlines.add(0.01, late)
        await asyncio.wait_for(late, 1)  # the timer was armed again for the earliest
    arun(main())


def test_a_cancelled_or_timed_out_waiter_leaves_the_others_waiting(tmp_path: Path) -> None:
    async def main() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "data") as e:
            e.register(slow)
            task_id = await e.submit("slow", {"seconds": 0.3})
            kept = asyncio.ensure_future(e.wait(task_id))
            gone = asyncio.ensure_future(e.wait(task_id, timeout=10))
            await asyncio.sleep(0.01)
            gone.cancel()
            with pytest.raises(WaitTimeoutError):
                await e.wait(task_id, timeout=0.01)
            waiting = e._tasks.waiters[task_id]
            assert len(waiting) == 1  # the cancelled and the timed-out one are forgotten
            assert (await kept).ok
            assert gone.cancelled()
            assert task_id not in e._tasks.waiters
    arun(main())
