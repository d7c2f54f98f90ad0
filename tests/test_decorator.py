"""``@skill``: functions as skills, their parameters schema from their type hints."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from skillexec.errors import ManifestError
from skillexec.runtime.entry import build_input, load_invoker
from skillexec.skills import (
    EntryKind,
    Isolation,
    Permission,
    Skill,
    SkillRegistry,
    skill,
    skill_of,
)


class Point(BaseModel):
    x: float
    y: float


@skill
def add_numbers(a: int, b: int = 2) -> int:
    """Add two integers.

    Returns their sum.
    """
    return a + b


@skill(id="geo.distance", version="2.1.0", timeout=5, isolation="inline", max_retries=1,
       priority=8, cacheable=True, idempotent=True, permissions=("network_access",),
       tags=("geo", "math"), output_schema={"type": "number"}, description="Distance.")
async def distance(start: Point, end: Point, *, unit: Literal["m", "km"] = "m",
                   context: Any = None) -> float:
    await asyncio.sleep(0)
    scale = 1000 if unit == "km" else 1
    return float(((end.x - start.x) ** 2 + (end.y - start.y) ** 2) ** 0.5) / scale


def test_bare_decorator_defaults() -> None:
    meta = skill_of(add_numbers)
    assert isinstance(meta, Skill)
    assert (meta.id, meta.version, meta.name) == ("add-numbers", "1.0.0", "add-numbers")
    assert meta.description == "Add two integers.\n\nReturns their sum."
    assert meta.entry.kind is EntryKind.CALLABLE
    assert meta.entry.func is add_numbers
    assert meta.execution.isolation is Isolation.INLINE
    assert meta.execution.timeout_s is None
    assert meta.path is None and meta.source == "decorator"
    assert add_numbers(1, 2) == 3  # still the plain function


def test_schema_from_type_hints() -> None:
    assert skill_of(add_numbers).parameters_schema == {
        "type": "object",
        "properties": {
            "a": {"title": "A", "type": "integer"},
            "b": {"title": "B", "type": "integer", "default": 2},
        },
        "required": ["a"],
        "additionalProperties": False,
    }


def test_decorator_with_options_on_an_async_function() -> None:
    meta = skill_of(distance)
    assert (meta.id, meta.version, meta.description) == ("geo.distance", "2.1.0", "Distance.")
    ex = meta.execution
    assert (ex.timeout_s, ex.isolation, ex.max_retries, ex.priority) == (
        5.0, Isolation.INLINE, 1, 8)
    assert (ex.cacheable, ex.idempotent) == (True, True)
    assert meta.permissions == {Permission.NETWORK_ACCESS}
    assert meta.tags == ("geo", "math")
    assert meta.output_schema == {"type": "number"}
    schema = meta.parameters_schema
    assert "context" not in schema["properties"]
    assert schema["required"] == ["start", "end"]
    assert schema["properties"]["start"] == {"$ref": "#/$defs/Point"}
    assert schema["$defs"]["Point"]["required"] == ["x", "y"]
    assert schema["properties"]["unit"]["enum"] == ["m", "km"]


def test_the_engine_calls_it_with_keyword_parameters_and_context() -> None:
    invoker = load_invoker(skill_of(add_numbers))
    assert not invoker.is_async
    assert invoker.call(build_input({"a": 40, "b": 2}, {}), None) == 42

    seen: list[Any] = []

    @skill
    def with_context(text: str, context: Any) -> str:
        seen.append(context)
        return text.upper()

    invoker = load_invoker(skill_of(with_context))
    assert invoker.call(build_input({"text": "hi"}, {}), "ctx") == "HI"
    assert seen == ["ctx"]

    invoker = load_invoker(skill_of(distance))
    assert invoker.is_async
    point = {"start": Point(x=0, y=0), "end": Point(x=3, y=4)}
    assert asyncio.run(invoker.call(build_input(point, {}), None)) == 5.0


def test_annotated_constraints_and_awkward_names() -> None:
    @skill
    def search(
        query: Annotated[str, Field(min_length=1, description="what to find")],
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
        json: bool = False,
        schema: str | None = None,
        _private: int = 0,
    ) -> list[str]:
        return []

    props = skill_of(search).parameters_schema["properties"]
    assert props["query"] == {"title": "Query", "type": "string", "minLength": 1,
                              "description": "what to find"}
    assert (props["limit"]["minimum"], props["limit"]["maximum"]) == (1, 100)
    assert set(props) == {"query", "limit", "json", "schema", "_private"}
    assert props["schema"]["anyOf"] == [{"type": "string"}, {"type": "null"}]


def test_unannotated_parameters_and_kwargs() -> None:
    @skill(id="echo")
    def echo(value, **extra):  # type: ignore[no-untyped-def]
        return {"value": value, **extra}

    schema = skill_of(echo).parameters_schema
    assert schema["required"] == ["value"]
    assert schema["additionalProperties"] is True
    assert load_invoker(skill_of(echo)).call(build_input({"value": 1, "more": 2}, {}), None) == {
        "value": 1, "more": 2}


@pytest.mark.parametrize("name", ["config", "parameters"])
def test_reserved_parameter_names_are_refused(name: str) -> None:
    source = f"def f({name}: dict) -> None:\n    pass\n"
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(ManifestError, match=f"declares '{name}'"):
        skill(namespace["f"])


def test_positional_only_parameters_are_refused() -> None:
    def f(a: int, /) -> int:
        return a

    with pytest.raises(ManifestError, match="parameter 'a' cannot be passed by keyword"):
        skill(f)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"priority": 12}, "execution.priority must be a whole number from 0 to 9"),
        ({"isolation": "vm"}, "execution.isolation must be one of"),
        ({"timeout": -1}, "execution.timeout must be a number of seconds above 0"),
        ({"version": "one"}, "version: invalid version 'one'"),
        ({"id": "has space"}, "is not a valid skill id"),
        ({"permissions": ("teleport",)}, "unknown permission 'teleport'"),
        ({"output_schema": ["number"]}, "output_schema must be a JSON Schema object"),
    ],
)
def test_invalid_options_are_manifest_errors_naming_the_field(
    options: dict[str, Any], says: str
) -> None:
    def f(x: int) -> int:
        return x

    with pytest.raises(ManifestError, match=says):
        skill(**options)(f)


def test_unresolvable_hints_are_a_clear_error() -> None:
    def f(x: NotDefinedAnywhere) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    with pytest.raises(ManifestError, match="cannot resolve the type hints"):
        skill(f)


def test_skill_of_refuses_anything_else() -> None:
    def plain() -> None:
        pass

    with pytest.raises(TypeError, match="is not a @skill-decorated function"):
        skill_of(plain)
    with pytest.raises(TypeError):
        skill_of(42)


def test_decorated_skills_go_into_the_registry() -> None:
    reg = SkillRegistry([skill_of(add_numbers), skill_of(distance)])
    assert reg.get("add-numbers").entry.func is add_numbers
    assert reg.get("geo.distance", "^2").version == "2.1.0"
