"""An asyncio app whose engine closes while its calls run: the app's own coroutines that
were awaiting ``execute`` get a SkillExecError saying so, not a CancelledError they never
asked for (in a TaskGroup that reads as the app being cancelled; a bare ``except
Exception`` lets it through and it ends the app's task silently)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, skill
from skillexec.errors import SkillExecError

pytestmark = pytest.mark.timeout(60)


@skill("nap")
async def nap(seconds: float = 30.0) -> bool:
    await asyncio.sleep(seconds)
    return True


def test_a_call_the_engine_closes_under_raises_engine_closed(tmp_path: Path) -> None:
    async def main() -> None:
        engine = SkillExecutionEngine(data_dir=tmp_path / "data")
        engine.register(nap)
        await engine.start()
        caller = asyncio.ensure_future(engine.execute("nap", {}))
        quick = asyncio.ensure_future(engine.execute("nap", {"seconds": 0.01}))
        await asyncio.sleep(0.5)
        await engine.close(grace_s=0.2)
        done, _ = await asyncio.wait({caller, quick}, timeout=10)
        assert done == {caller, quick}
        assert quick.result().status.value == "succeeded"
        assert not caller.cancelled(), "the engine cancelled the app's own coroutine"
        exc = caller.exception()
        assert isinstance(exc, SkillExecError) and exc.code == "engine_closed", exc
        assert "journal" in exc.message and exc.details["task_id"]

    asyncio.run(main())


def test_an_app_that_cancels_its_call_while_closing_is_still_cancelled(
        tmp_path: Path) -> None:
    async def main() -> None:
        engine = SkillExecutionEngine(data_dir=tmp_path / "data")
        engine.register(nap)
        await engine.start()
        caller = asyncio.ensure_future(engine.execute("nap", {}))
        await asyncio.sleep(0.5)
        closing = asyncio.ensure_future(engine.close(grace_s=0.2))
        caller.cancel()
        await closing
        await asyncio.wait({caller}, timeout=10)
        assert caller.cancelled()

    asyncio.run(main())


def test_a_script_the_engine_closes_under_raises_engine_closed(tmp_path: Path) -> None:
    """The same through run_script, with no second, "rejected" record of the call."""
    from tests._isolation import need_sandbox
    from tests.conftest import FIXTURES

    need_sandbox()

    async def main() -> None:
        engine = SkillExecutionEngine(skills_dir=FIXTURES / "scripts",
                                      data_dir=tmp_path / "data")
        await engine.start()
        caller = asyncio.ensure_future(engine.run_script(
            "pdf-forms", "scripts/slow.py", args=["a", "30"]))
        await asyncio.sleep(1.5)
        await engine.close(grace_s=0.2)
        await asyncio.wait({caller}, timeout=10)
        assert not caller.cancelled()
        exc = caller.exception()
        assert isinstance(exc, SkillExecError) and exc.code == "engine_closed", exc
        async with SkillExecutionEngine(data_dir=tmp_path / "data") as again:
            assert all(t.status.value != "rejected" for t in await again.tasks())

    asyncio.run(main())


def test_a_caller_that_gives_up_on_a_queued_call_cancels_it(tmp_path: Path) -> None:
    """``asyncio.wait_for(engine.execute(...), t)`` stops the call whether it had a slot
    (it ran in the caller's coroutine) or waited in the queue: a queued one must not run
    later for nobody, side effects and all."""
    runs: list[float] = []

    @skill("counted")
    async def counted(seconds: float = 0.6) -> bool:
        runs.append(seconds)
        await asyncio.sleep(seconds)
        return True

    async def main() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "data",
                                        max_concurrency=1) as engine:
            engine.register(counted)
            first = asyncio.ensure_future(engine.execute("counted", {}))
            await asyncio.sleep(0.1)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(engine.execute("counted", {"seconds": 0.05}), 0.2)
            assert (await first).status.value == "succeeded"
            await asyncio.sleep(0.5)
            statuses = sorted(t.status.value for t in await engine.tasks())
            assert statuses == ["cancelled", "succeeded"]
            assert runs == [0.6]

    asyncio.run(main())
