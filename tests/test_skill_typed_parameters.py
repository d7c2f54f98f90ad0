"""A ``@skill`` function's typed parameters reach it as their types, not as raw JSON; the
journal (and a replay) keeps the JSON."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid
from pathlib import Path
from typing import Annotated, Any

import pydantic
from typing_extensions import TypedDict

from skillexec import SkillExecutionEngine, TaskStatus, skill
from skillexec.replay import replay
from skillexec.skills.decorator import parameters_converter
from tests.conftest import arun


class Point(pydantic.BaseModel):
    x: int
    y: int = 0


@dataclasses.dataclass
class Box:
    a: int
    label: str = "z"


class Row(TypedDict):
    k: int


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@skill(id="typed-kinds")
def kinds(p: Point, d: Box, t: Row, c: Color, when: datetime.date, at: datetime.datetime,
          tags: set[str], pair: tuple[int, int], u: uuid.UUID, amount: decimal.Decimal,
          blob: bytes, maybe: bytes | None = None, points: list[Point] | None = None,
          ) -> dict[str, Any]:
    assert isinstance(p, Point) and isinstance(d, Box) and isinstance(c, Color)
    return {
        "types": {name: type(v).__name__ for name, v in {
            "p": p, "d": d, "t": t, "c": c, "when": when, "at": at, "tags": tags,
            "pair": pair, "u": u, "amount": amount, "blob": blob, "maybe": maybe}.items()},
        "sum": p.x + p.y + d.a + t["k"] + (1 if c is Color.RED else 100),
        "year": when.year, "hour": at.hour, "tags": sorted(tags), "pair": list(pair),
        "u": u.hex, "amount": str(amount * 2), "blob": blob.decode(),
        "maybe": maybe.decode() if maybe is not None else None,
        "points": [q.x for q in points or []],
    }


PARAMS: dict[str, Any] = {
    "p": {"x": 1}, "d": {"a": 2}, "t": {"k": 3}, "c": "red", "when": "2024-01-02",
    "at": "2024-01-02T03:04:05", "tags": ["b", "a"], "pair": [1, 2],
    "u": "12345678-1234-5678-1234-567812345678", "amount": "1.10", "blob": "aGk=",
    "maybe": "eW8=", "points": [{"x": 7}, {"x": 8, "y": 1}],
}


def test_each_annotated_type_reaches_the_function_as_that_type(tmp_path: Path) -> None:
    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            r = await engine.execute(kinds, PARAMS)
            assert r.status is TaskStatus.SUCCEEDED, r.error
            assert r.output["types"] == {
                "p": "Point", "d": "Box", "t": "dict", "c": "Color", "when": "date",
                "at": "datetime", "tags": "set", "pair": "tuple", "u": "UUID",
                "amount": "Decimal", "blob": "bytes", "maybe": "bytes"}
            assert r.output["sum"] == 1 + 0 + 2 + 3 + 1
            assert (r.output["year"], r.output["hour"]) == (2024, 3)
            assert r.output["tags"] == ["a", "b"] and r.output["pair"] == [1, 2]
            assert r.output["u"] == "12345678123456781234567812345678"
            assert r.output["amount"] == "2.20"
            assert (r.output["blob"], r.output["maybe"]) == ("hi", "yo")
            assert r.output["points"] == [7, 8]

            # What the journal keeps is the call's JSON, not the converted objects; a
            # replay runs from it and converts again.
            stored = await engine.journal.get_request(r.task_id)
            assert stored is not None
            params = stored.request.params
            assert params["p"] == {"x": 1, "y": 0} and params["c"] == "red"
            assert params["when"] == "2024-01-02" and params["tags"] == ["b", "a"]
            again = (await replay(engine, [r.task_id]))[0]
            assert again.result is not None and again.result.output == r.output
    arun(go())


def test_json_that_does_not_convert_fails_as_invalid_parameters(tmp_path: Path) -> None:
    @skill(id="when")
    def when(at: datetime.datetime) -> str:
        return at.isoformat()

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            r = await engine.execute(when, {"at": "not a time"})
            assert r.status is TaskStatus.FAILED and r.error is not None
            assert r.error.code == "invalid_parameters" and not r.error.retryable
            assert "/at" in r.error.message and "'when'" in r.error.message
            assert r.attempts == 1
    arun(go())


def test_a_function_of_json_types_gets_the_json_as_it_is(tmp_path: Path) -> None:
    seen: list[Any] = []

    @skill(id="plain-json")
    def plain(a: int, b: str, xs: list[int], meta: dict[str, Any] | None = None) -> int:
        seen.append((a, b, xs, meta))
        return a

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            r = await engine.execute(plain, {"a": 1, "b": "x", "xs": [1, 2],
                                             "meta": {"k": [1]}})
            assert r.output == 1
    arun(go())
    assert seen == [(1, "x", [1, 2], {"k": [1]})]
    # Nothing to convert: its calls pay nothing for the conversion of others'.
    assert parameters_converter(plain) is None
    assert parameters_converter(kinds) is not None


def test_the_schema_is_what_it_was() -> None:
    @skill(id="schema-kept")
    def f(p: Point, when: datetime.date, blob: bytes = b"") -> None:
        pass

    schema = f.__skill__.parameters_schema  # type: ignore[attr-defined]
    assert schema["properties"] == {
        "p": {"$ref": "#/$defs/Point"},
        "when": {"format": "date", "title": "When", "type": "string"},
        "blob": {"default": "", "format": "binary", "title": "Blob", "type": "string"},
    }
    assert schema["required"] == ["p", "when"] and schema["additionalProperties"] is False


def test_a_binary_parameter_annotated_str_still_gets_the_files_path(tmp_path: Path) -> None:
    @skill(id="upload")
    def upload(doc: Annotated[str, pydantic.Field(json_schema_extra={"format": "binary"})],
               when: datetime.date, raw: bytes) -> list[Any]:
        return [Path(doc).read_bytes().decode(), when.year, raw.decode()]

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            r = await engine.execute(upload, {"doc": b"file", "when": "2021-02-03",
                                              "raw": b"bytes"})
            assert r.status is TaskStatus.SUCCEEDED, r.error
            assert r.output == ["file", 2021, "bytes"]
    arun(go())
