"""The inline runner's watchdog: deadlines still cancel, and calls that ended in time do
not pile up on its heap until the earliest deadline (a default timeout later)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from skillexec import SkillExecutionEngine, skill
from skillexec.runtime.runners.inline_watchdog import Watchdog


@skill(id="quick")
async def quick() -> dict[str, int]:
    return {"ok": 1}


@skill(id="stuck", timeout=0.2)
async def stuck() -> None:
    await asyncio.sleep(30)


def test_calls_that_ended_are_swept_from_the_heap(tmp_path: Path) -> None:
    asyncio.run(_swept(tmp_path))


async def _swept(tmp_path: Path) -> None:
    async with SkillExecutionEngine(data_dir=tmp_path) as engine:
        engine.register(quick)
        for _ in range(2000):
            assert (await engine.execute("quick")).ok
        dog = _dog_of(engine)
        # 2,000 calls, a 60 s default timeout: the heap holds a bounded few, not 2,000.
        assert len(dog._heap) <= 600


def test_a_deadline_still_cancels_among_many_ended_calls(tmp_path: Path) -> None:
    asyncio.run(_cancels(tmp_path))


async def _cancels(tmp_path: Path) -> None:
    async with SkillExecutionEngine(data_dir=tmp_path) as engine:
        engine.register(quick)
        engine.register(stuck)
        late = asyncio.ensure_future(engine.execute("stuck", max_retries=0))
        for _ in range(700):
            await engine.execute("quick")
        result = await asyncio.wait_for(late, 10)
        assert result.error is not None and result.error.code == "execution_timeout"


def test_watchdog_alone() -> None:
    asyncio.run(_alone())


async def _alone() -> None:
    dog = Watchdog(asyncio.get_running_loop())

    async def call(seconds: float, timeout_s: float) -> bool:
        w = dog.watch(timeout_s)
        try:
            await asyncio.sleep(seconds)
            return True
        except asyncio.CancelledError:
            assert w.expired
            return False
        finally:
            dog.ended(w)

    done = await asyncio.gather(*(call(0, 5) for _ in range(1000)), call(5, 0.05))
    assert all(done[:-1]) and done[-1] is False
    assert len(dog._heap) < 600


def _dog_of(engine: SkillExecutionEngine) -> Watchdog:
    runner = engine._pipeline.attempts.runners["inline"]
    dog = runner._dog
    assert dog is not None
    return dog

