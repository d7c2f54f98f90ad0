"""A skill's output that is not plain JSON gets one answer whatever path serves it (review E
fault 12): the caller in this process, a cache hit, ``status()`` from the journal after a
restart. It is encoded once and given back as the journal holds it; an integer beyond 64
bits is refused by name."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
import uuid
from pathlib import Path
from typing import Any

import pytest

from skillexec import SkillExecutionEngine, TaskStatus, skill
from tests.conftest import arun


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Color(enum.Enum):
    RED = "red"


STATE: dict[str, list[Any]] = {"kept": [1]}
CASES: dict[str, tuple[Any, Any]] = {
    "datetime": (datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
                 "2020-01-01T00:00:00+00:00"),
    "uuid": (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    "tuple": ((1, 2), [1, 2]),
    "dataclass": (Point(1, 2), {"x": 1, "y": 2}),
    "enum": (Color.RED, "red"),
    "nan": (math.nan, None),
    "inf inside": ({"x": math.inf, "t": (1,)}, {"x": None, "t": [1]}),
    "int keys": ({1: "a"}, {"1": "a"}),
    "module state": (STATE, {"kept": [1]}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_an_output_reads_the_same_in_process_from_the_cache_and_from_the_journal(
        tmp_path: Path, name: str) -> None:
    value, expected = CASES[name]
    fn = skill(id="out-" + name.replace(" ", "-"), cacheable=True)(lambda: value)

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            first = await engine.execute(fn, {})
            assert first.status is TaskStatus.SUCCEEDED and not first.cached, first
            assert first.output == expected and type(first.output) is type(expected)
            json.dumps(first.to_dict(), allow_nan=False)  # was: datetime / NaN refused
            if isinstance(first.output, dict | list):  # the caller's, not the skill's
                first.output.clear()
            assert STATE == {"kept": [1]}
            hit = await engine.execute(fn, {})
            assert hit.cached and hit.output == expected
            task_id = first.task_id
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as again:
            info = await again.status(task_id)
            assert info.result is not None and info.result.output == expected

    arun(go())


@pytest.mark.parametrize("big", [2**70, -(2**64), 10**40])
def test_an_integer_beyond_64_bits_is_refused_by_name(tmp_path: Path, big: int) -> None:
    fn = skill(id="big-int")(lambda: {"n": big})

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            r = await engine.execute(fn, {})
            assert r.status is TaskStatus.FAILED and r.error is not None, r
            assert r.error.code == "output_not_json"
            assert "integer beyond 64 bits" in r.error.message
            assert "as a string" in r.error.message

    arun(go())
