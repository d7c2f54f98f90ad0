"""Each attempt gets the call's parameters as given (review E fault 11): what an inline skill
changes in them reaches neither its caller's objects nor the next attempt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skillexec import SkillExecutionEngine, TaskStatus, TransientError, skill
from tests.conftest import arun


def test_a_retry_sees_the_parameters_as_given_not_as_the_failed_attempt_left_them(
        tmp_path: Path) -> None:
    seen: list[list[int]] = []

    @skill(id="retry-mut", max_retries=3)
    def retry_mut(xs: list[int], box: dict[str, Any]) -> list[int]:
        seen.append(list(xs))
        xs.append(len(xs))
        box.setdefault("n", 0)
        box["n"] += 1
        if len(seen) < 3:
            raise TransientError("flaky")
        return [*xs, box["n"]]

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            r = await engine.execute(retry_mut, {"xs": [0], "box": {}})
            assert r.status is TaskStatus.SUCCEEDED and r.attempts == 3
            assert seen == [[0], [0], [0]]  # was [[0], [0, 1], [0, 1, 2]]
            assert r.output == [0, 1, 1]

    arun(go())


def test_an_inline_skill_does_not_change_its_callers_objects(tmp_path: Path) -> None:
    @skill(id="mut-in")
    def mut_in(b: dict[str, Any], xs: list[int]) -> int:
        b["touched"] = True
        xs.append(99)
        return len(xs)

    @skill(id="mut-in-async")
    async def mut_in_async(b: dict[str, Any], xs: list[int]) -> int:
        b["touched"] = True
        xs.append(99)
        return len(xs)

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            for fn in (mut_in, mut_in_async):
                b, xs = {"k": 1}, [1]
                r = await engine.execute(fn, {"b": b, "xs": xs})
                assert r.status is TaskStatus.SUCCEEDED and r.output == 2, r
                assert b == {"k": 1} and xs == [1]
                tid = await engine.submit(fn, {"b": b, "xs": xs})
                assert (await engine.wait(tid)).output == 2
                assert b == {"k": 1} and xs == [1]

    arun(go())
