"""NaN and the infinities are not JSON: a parameter holding one is refused by name
(orjson wrote it as null, so the skill got None, or the schema said "got null")."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from skillexec import SkillExecutionEngine, TaskStatus, skill
from tests.conftest import arun


@skill(id="anything")
def anything(data: Any = None) -> Any:
    return data


@skill(id="number")
def number(n: int) -> int:
    return n


@pytest.mark.parametrize(("skill_id", "params", "where"), [
    ("anything", {"data": math.nan}, "/data"),
    ("anything", {"data": [1, {"x": -math.inf}]}, "/data/1/x"),
    ("number", {"n": math.inf}, "/n"),
])
def test_a_parameter_that_is_nan_or_infinite_is_refused_by_name(
        skill_id: str, params: dict[str, Any], where: str, tmp_path: Path) -> None:
    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as e:
            e.register(anything)
            e.register(number)
            r = await e.execute(skill_id, params)
            assert r.status is TaskStatus.REJECTED, r
            assert r.error is not None and r.error.code == "parameters_not_json", r.error
            assert where in r.error.message and "JSON cannot represent" in r.error.message
            ok = await e.execute("anything", {"data": [None, 1.5, {"y": None}]})
            assert ok.ok and ok.output == [None, 1.5, {"y": None}]  # a real null is fine
    arun(go())
