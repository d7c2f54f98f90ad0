"""Single-flight: identical calls of a cacheable skill run once and share the result. When
the caller of the call that runs (the leader) gives up, the others did not: the run goes on
for them (the first of them leads now), and none of them gets ``cancelled``. Before, every
follower ended ``cancelled`` with the leader."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus, skill

pytestmark = pytest.mark.timeout(60)

RUNS: list[int] = []


@skill(id="flight-io", timeout=30, cacheable=True)
async def shared(i: int) -> int:
    RUNS.append(i)
    await asyncio.sleep(0.4)
    return i * 10


@pytest.mark.parametrize("slots", [1, 4])
def test_followers_are_served_when_the_leaders_caller_gives_up(tmp_path: Path,
                                                              slots: int) -> None:
    RUNS.clear()

    async def main() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d",
                                        max_concurrency=slots) as engine:
            engine.register(shared)
            leader = asyncio.ensure_future(engine.execute(shared, {"i": 1}))
            await asyncio.sleep(0.05)
            followers = [asyncio.ensure_future(engine.execute(shared, {"i": 1}))
                         for _ in range(3)]
            await asyncio.sleep(0.05)
            leader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await leader
            results = await asyncio.wait_for(asyncio.gather(*followers), 10)
            for r in results:
                assert r.status is TaskStatus.SUCCEEDED, r.error
                assert r.output == 10
            assert RUNS == [1, 1]  # the cancelled run, then one run for all three
            # One of them ran; the other two shared its result.
            assert sorted(bool(r.metrics.get("shared")) for r in results) == [
                False, True, True]
            again = await engine.execute(shared, {"i": 1})
            assert again.cached and again.output == 10

    asyncio.run(main())


def test_a_follower_cancelled_itself_is_not_the_one_that_runs(tmp_path: Path) -> None:
    RUNS.clear()

    async def main() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            engine.register(shared)
            leader = asyncio.ensure_future(engine.execute(shared, {"i": 2}))
            await asyncio.sleep(0.05)
            quitter = asyncio.ensure_future(engine.execute(shared, {"i": 2}))
            stayer = asyncio.ensure_future(engine.execute(shared, {"i": 2}))
            await asyncio.sleep(0.05)
            quitter.cancel()
            leader.cancel()
            await asyncio.gather(leader, quitter, return_exceptions=True)
            r = await asyncio.wait_for(stayer, 10)
            assert r.status is TaskStatus.SUCCEEDED and r.output == 20
            await asyncio.sleep(0.1)
            ends = sorted(t.status.value for t in await engine.tasks(limit=10))
            assert ends == ["cancelled", "cancelled", "succeeded"]

    asyncio.run(main())
