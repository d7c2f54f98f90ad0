"""A caller cancelled while its call is being accepted (its journal row being written):
the row is written regardless, so the task ends ``cancelled`` right after it. Before, the
row stayed ``queued``/``running`` for ever, with the engine idle, and the next engine ran
the call although its caller had cancelled it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus, skill

pytestmark = pytest.mark.timeout(60)

RAN: list[int] = []


@skill(id="accept-io", timeout=30)
async def io(i: int) -> int:
    RAN.append(i)
    await asyncio.sleep(0.3)
    return i


@skill(id="accept-cached", timeout=30, cacheable=True)
async def cached(i: int) -> int:
    await asyncio.sleep(0.3)
    return i


def _engine(data: Path, **options: int) -> SkillExecutionEngine:
    engine = SkillExecutionEngine(data_dir=data, **options)
    engine.register(io)
    engine.register(cached)
    return engine


async def _cancelled_while_accepted(engine: SkillExecutionEngine, fn: object,
                                    i: int) -> None:
    call = asyncio.ensure_future(engine.execute(fn, {"i": i}))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # it runs up to its first wait: the journal write of its row
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


@pytest.mark.parametrize("slots", [1, 4], ids=["queued", "slot-free"])
def test_a_call_cancelled_while_accepted_ends_cancelled(tmp_path: Path, slots: int) -> None:
    RAN.clear()

    async def main() -> None:
        async with _engine(tmp_path / "d", max_concurrency=slots) as engine:
            busy = await engine.submit(io, {"i": 0})  # with one slot, the calls queue
            await asyncio.sleep(0.05)
            for i in range(1, 4):
                await _cancelled_while_accepted(engine, io, i)
            leader = asyncio.ensure_future(engine.execute(cached, {"i": 7}))
            await asyncio.sleep(0.05)
            await _cancelled_while_accepted(engine, cached, 7)  # a follower of `leader`
            assert (await leader).output == 7
            await engine.wait(busy, timeout=10)
            await asyncio.sleep(0.2)
            infos = await engine.tasks(limit=100)
            left = [(t.skill_id, t.status.value) for t in infos if not t.status.terminal]
            assert not left, f"tasks left unfinished with the engine idle: {left}"
            assert engine.running_count == 0 and engine.queue_depth == 0
            ends = sorted(t.status.value for t in infos)
            assert ends.count(TaskStatus.CANCELLED.value) == 4, ends

        again = _engine(tmp_path / "d")
        async with again:
            assert again.recovery.resumed == () and again.recovery.interrupted == ()
            await asyncio.sleep(0.4)
        assert RAN == [0], "a call whose caller cancelled it ran"

    asyncio.run(main())
