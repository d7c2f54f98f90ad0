"""``@skill`` refuses at decoration, with a ManifestError naming the function and the
parameter, what it cannot run; and takes bound methods, partials and callable instances."""

from __future__ import annotations

import functools
import sys
import threading
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skillexec import ManifestError, SkillExecutionEngine, TaskStatus, skill
from tests.conftest import arun


class RowTD(typing.TypedDict):  # typing's, not typing_extensions': pydantic < 3.12 refuses it
    k: int


def _with_typed_dict(t: RowTD) -> None:
    pass


def _with_lock(n: int, lock: threading.Lock) -> None:
    pass


def _with_callable(fn: Callable[[int], int]) -> None:
    pass


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="typing.TypedDict works from 3.12")
def test_typing_typed_dict_is_a_manifest_error_naming_the_parameter() -> None:
    with pytest.raises(ManifestError, match=r"@skill '_with_typed_dict': parameter 't' "
                                            r"\(RowTD\): .*typing_extensions"):
        skill(id="td")(_with_typed_dict)


@pytest.mark.parametrize(("fn", "param"), [(_with_lock, "lock"), (_with_callable, "fn")])
def test_a_type_without_json_is_a_manifest_error_naming_the_parameter(
        fn: Callable[..., Any], param: str) -> None:
    with pytest.raises(ManifestError, match=f"parameter '{param}'") as caught:
        skill(id="t")(fn)
    assert caught.value.info.details["parameter"] == param
    assert str(caught.value).startswith(f"@skill '{fn.__qualname__}'")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("level", ["process", "sandbox"])
def test_isolation_a_function_cannot_have_is_refused_at_decoration(level: str) -> None:
    def f(a: int) -> int:
        return a

    with pytest.raises(ManifestError, match=f"isolation '{level}' cannot be given to a "
                                            "decorated function"):
        skill(id="iso", isolation=level)(f)
    assert skill(id="iso", isolation="inline")(f) is f


@pytest.mark.parametrize("thing", [int, 42])
def test_a_class_or_a_value_is_refused(thing: Any) -> None:
    with pytest.raises(ManifestError, match="a skill is a function"):
        skill(id="x")(thing)


class Toolkit:
    """A toolkit of a user."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    def scale(self, x: int) -> int:
        """Scale x by the toolkit's factor."""
        return x * self.factor

    async def ascale(self, x: int) -> int:
        return x * self.factor + 1

    def __call__(self, y: int) -> int:
        return y - self.factor


def _add(a: int, b: int, c: int = 0) -> int:
    """Add them."""
    return a + b + c


async def _aadd(a: int, b: int) -> int:
    return a * 100 + b


def test_bound_methods_partials_and_callable_instances_are_skills(tmp_path: Path) -> None:
    kit = Toolkit(10)
    method = skill(id="kit-scale")(kit.scale)
    amethod = skill(id="kit-ascale")(kit.ascale)
    partial = skill(id="add-one")(functools.partial(_add, 1, c=5))
    apartial = skill(id="aadd-one")(functools.partial(_aadd, 1))
    instance = skill(id="kit-call")(kit)
    assert method(2) == 20 and partial(b=2) == 8 and instance(12) == 2  # still callable
    meta = method.__skill__  # type: ignore[attr-defined]
    assert meta.description == "Scale x by the toolkit's factor."
    assert meta.parameters_schema["required"] == ["x"]  # self is bound
    schema = partial.__skill__.parameters_schema  # type: ignore[attr-defined]
    assert set(schema["properties"]) == {"b", "c"} and schema["required"] == ["b"]
    assert partial.__skill__.description == "Add them."  # type: ignore[attr-defined]

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            for fn, params, out in ((method, {"x": 3}, 30), (amethod, {"x": 3}, 31),
                                    (partial, {"b": 2}, 8), (apartial, {"b": 2}, 102),
                                    (instance, {"y": 15}, 5)):
                r = await engine.execute(fn, params)
                assert r.status is TaskStatus.SUCCEEDED and r.output == out, (fn, r.error)
    arun(go())
