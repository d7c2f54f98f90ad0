"""Event loops: ``skillexec.run()`` inside a running loop says to await the engine there
(it said only "asyncio.run() cannot be called from a running event loop", and left a
coroutine never awaited), and an engine used from a loop other than the one that started
it says so (it failed with a bare "Event loop is closed")."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import pytest

import skillexec
from skillexec import SkillExecutionEngine, skill

pytestmark = pytest.mark.timeout(60)


@skill(id="loops-add")
def add(a: int) -> int:
    return a + 1


@skill(id="loops-aadd")
async def aadd(a: int) -> int:
    await asyncio.sleep(0.01)
    return a + 1


def test_run_inside_a_running_loop_says_to_await_the_engine(tmp_path: Path) -> None:
    async def notebook_cell() -> None:
        with pytest.raises(RuntimeError) as refused:
            skillexec.run(add, {"a": 1}, data_dir=tmp_path / "d")
        message = str(refused.value)
        assert "skillexec.run()" in message and "await engine.execute" in message

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" fails the test
        asyncio.run(notebook_cell())
    assert skillexec.run(add, {"a": 1}, data_dir=tmp_path / "d").output == 2  # still works


def test_an_engine_used_from_another_loop_says_so(tmp_path: Path) -> None:
    engine = SkillExecutionEngine(data_dir=tmp_path / "d")
    engine.register(aadd)
    asyncio.run(engine.start())
    for call in (lambda: engine.execute(aadd, {"a": 1}), lambda: engine.submit(aadd, {"a": 1}),
                 lambda: engine.tasks(), lambda: engine.start()):
        with pytest.raises(RuntimeError, match="started on another event loop"):
            asyncio.run(call())
    asyncio.run(engine.close())  # releasing it from another loop is still possible
    with pytest.raises(skillexec.SkillExecError, match="closed"):
        asyncio.run(engine.execute(aadd, {"a": 1}))
