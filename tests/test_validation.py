"""ParameterValidator: coercion and its refusals, defaults, every violation at once, JSON
pointers, size limits, output schemas, the schema cache, and properties over random input."""

from __future__ import annotations

import datetime
import threading
from types import MappingProxyType
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import skillexec.validation as validation
from skillexec.errors import (
    ExecutionError,
    ManifestError,
    ParameterError,
    ResourceError,
    Violation,
)
from skillexec.skills.model import Entry, EntryKind, Skill
from skillexec.validation import ParameterValidator


def mk(schema: dict[str, Any] | None = None, *, output: dict[str, Any] | None = None,
       id: str = "s", version: str = "1.0.0") -> Skill:
    return Skill(id=id, version=version, entry=Entry(kind=EntryKind.NONE),
                 parameters_schema=schema if schema is not None else {"type": "object"},
                 output_schema=output)


def one(type_: Any, **extra: Any) -> Skill:
    """A skill with a single parameter ``v`` of the given type."""
    return mk({"type": "object", "properties": {"v": {"type": type_, **extra}}})


def errors_of(skill: Skill, params: Any, **options: Any) -> ParameterError:
    with pytest.raises(ParameterError) as info:
        ParameterValidator(**options).validate(skill, params)
    return info.value


V = ParameterValidator()


# -- coercion ---------------------------------------------------------------------------------

COERCED = [
    ("integer", "3", 3),
    ("integer", "-7", -7),
    ("integer", "+5", 5),
    ("integer", "3.0", 3),
    ("integer", " 42 ", 42),
    ("integer", "1e3", 1000),
    ("integer", "18446744073709551615", (1 << 64) - 1),
    ("number", "2.5", 2.5),
    ("number", "3", 3),
    ("number", "-1e-3", -0.001),
    ("number", ".5", 0.5),
    ("boolean", "true", True),
    ("boolean", "false", False),
    ("boolean", "TRUE", True),
    ("boolean", "False", False),
    ("boolean", "1", True),
    ("boolean", "0", False),
    ("boolean", "yes", True),
    ("boolean", "No", False),
    ("null", "null", None),
    ("null", "NULL", None),
    ("array", '["a", "b"]', ["a", "b"]),
    ("array", "a, b", ["a", "b"]),
    ("array", "a,b,,c", ["a", "b", "", "c"]),
    ("array", "solo", ["solo"]),
    ("array", "", []),
    ("array", "[]", []),
    ("object", '{"a": 1}', {"a": 1}),
    ("object", "{}", {}),
    (["integer", "null"], "null", None),
    (["integer", "null"], "5", 5),
    (["boolean", "integer"], "1", 1),  # "1" reads as the number before the boolean
    (["boolean", "integer"], "yes", True),
    (["integer", "array"], "1,2", ["1", "2"]),
]


@pytest.mark.parametrize(("type_", "raw", "expected"), COERCED)
def test_string_coerced_to_the_type_the_schema_asks_for(type_: Any, raw: str,
                                                        expected: Any) -> None:
    out = V.validate(one(type_), {"v": raw})
    assert out == {"v": expected}
    assert type(out["v"]) is type(expected)


REFUSED = [
    ("integer", "3.5"),
    ("integer", "abc"),
    ("integer", ""),
    ("integer", "1_000"),
    ("integer", "0x10"),
    ("integer", "nan"),
    ("integer", "1e-400"),  # rounds to 0 as a float: not lossless
    ("integer", "99999999999999999999999"),  # beyond 64 bits: JSON could not carry it on
    ("integer", "1e400"),
    ("integer", "true"),
    ("number", "inf"),
    ("number", "nan"),
    ("number", "Infinity"),
    ("number", "1e999"),
    ("number", "2.5.1"),
    ("number", "1_0"),
    ("number", "1,5"),
    ("boolean", "on"),
    ("boolean", "2"),
    ("boolean", "y"),
    ("boolean", ""),
    ("null", "none"),
    ("null", ""),
    ("array", "[1,"),
    ("array", "[1"),
    ("object", "[1]"),
    ("object", "{bad"),
    ("object", "a=1"),
    (["integer", "null"], "x"),
]


@pytest.mark.parametrize(("type_", "raw"), REFUSED)
def test_coercion_refused_when_not_lossless(type_: Any, raw: str) -> None:
    err = errors_of(one(type_), {"v": raw})
    assert err.code == "invalid_parameters"
    assert [(v.path, v.rule, v.value) for v in err.violations] == [("/v", "type", raw)]


def test_strings_stay_strings_where_the_schema_allows_strings() -> None:
    assert V.validate(one(["string", "integer"]), {"v": "5"}) == {"v": "5"}
    assert V.validate(one("string"), {"v": "5"}) == {"v": "5"}
    assert V.validate(mk({"properties": {"v": {}}}), {"v": "5"}) == {"v": "5"}  # no type


def test_only_strings_are_coerced() -> None:
    err = errors_of(one("string"), {"v": 5})
    assert err.violations[0].rule == "type"
    err = errors_of(one("boolean"), {"v": 1})
    assert err.violations[0].rule == "type"


def test_array_items_coerced_after_splitting() -> None:
    s = one("array", items={"type": "integer"})
    assert V.validate(s, {"v": "1,2"}) == {"v": [1, 2]}
    assert V.validate(s, {"v": '[1, "2"]'}) == {"v": [1, 2]}
    assert V.validate(s, {"v": ["3", 4]}) == {"v": [3, 4]}
    err = errors_of(s, {"v": "1,x"})
    assert [(v.path, v.value) for v in err.violations] == [("/v/1", "x")]


def test_prefix_items_coerced_by_position() -> None:
    s = one("array", prefixItems=[{"type": "integer"}, {"type": "boolean"}],
            items={"type": "number"})
    assert V.validate(s, {"v": "1, true, 2.5"}) == {"v": [1, True, 2.5]}


def test_object_string_parsed_then_its_properties_coerced_and_defaulted() -> None:
    s = one("object", properties={"n": {"type": "integer"}, "k": {"type": "string",
                                                                    "default": "x"}})
    assert V.validate(s, {"v": '{"n": "4"}'}) == {"v": {"n": 4, "k": "x"}}


def test_nested_objects_and_arrays_coerced() -> None:
    s = mk({"type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "properties": {"n": {"type": "integer"},
                                         "on": {"type": "boolean"}}}}}})
    out = V.validate(s, {"items": [{"n": "1"}, {"on": "no"}, {"n": 2}]})
    assert out == {"items": [{"n": 1}, {"on": False}, {"n": 2}]}


def test_additional_properties_schema_coerces_undeclared_keys() -> None:
    s = mk({"type": "object", "properties": {"name": {"type": "string"}},
            "additionalProperties": {"type": "integer"}})
    assert V.validate(s, {"name": "7", "a": "1", "b": 2}) == {"name": "7", "a": 1, "b": 2}


def test_pydantic_shapes_ref_and_anyof_null() -> None:
    s = mk({
        "$defs": {"Inner": {"type": "object", "properties": {
            "n": {"type": "integer", "default": 3}, "tags": {"type": "array", "default": [],
                                                             "items": {"type": "string"}}}}},
        "type": "object",
        "properties": {
            "b": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
            "c": {"$ref": "#/$defs/Inner"},
            "e": {"type": "array", "items": {"$ref": "#/$defs/Inner"}, "default": []},
            "f": {"anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}]},
        },
        "required": ["c"],
    })
    out = V.validate(s, {"b": "5", "c": {"n": "2"}, "e": [{}, {"tags": "x,y"}], "f": "null"})
    assert out == {"b": 5, "c": {"n": 2, "tags": []}, "e": [{"n": 3, "tags": []},
                                                          {"n": 3, "tags": ["x", "y"]}],
                   "f": None}
    assert V.validate(s, {"c": {}, "f": {"n": "8"}})["f"] == {"n": 8, "tags": []}


def test_recursive_schema() -> None:
    s = mk({"$defs": {"T": {"type": "object", "properties": {
        "v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/T"}}}}},
        "$ref": "#/$defs/T"})
    out = V.validate(s, {"v": "1", "kids": [{"v": "2", "kids": [{"v": "3"}]}]})
    assert out == {"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}]}


def test_comma_lists_split_once_even_under_recursive_schemas() -> None:
    s = mk({"$defs": {"L": {"type": "array", "items": {"$ref": "#/$defs/L"}}},
            "type": "object", "properties": {"v": {"$ref": "#/$defs/L"}}})
    err = errors_of(s, {"v": "a"})  # ["a"], and "a" is not split again into [["a"]]...
    assert [(v.path, v.value) for v in err.violations] == [("/v/0", "a")]
    assert V.validate(s, {"v": "[[], [[]]]"}) == {"v": [[], [[]]]}
    nested = one("array", items={"type": "array", "items": {"type": "integer"}})
    assert V.validate(nested, {"v": '[[1, "2"], "3,4"]'}) == {"v": [[1, 2], [3, 4]]}


def test_coercion_switched_off() -> None:
    off = ParameterValidator(coerce=False)
    s = mk({"type": "object", "properties": {"n": {"type": "integer"}, "b": {"type": "boolean"},
                                             "d": {"type": "integer", "default": 1}}})
    err = errors_of(s, {"n": "3", "b": "true"}, coerce=False)
    assert [(v.path, v.rule, v.value) for v in err.violations] == [
        ("/b", "type", "true"), ("/n", "type", "3")]
    assert off.validate(s, {"n": 3}) == {"n": 3, "d": 1}  # defaults still filled


# -- defaults ---------------------------------------------------------------------------------

DEFAULTS = {"type": "object", "properties": {
    "limit": {"type": "integer", "default": 10},
    "tags": {"type": "array", "default": ["a"]},
    "cfg": {"type": "object", "properties": {"n": {"type": "number", "default": 2.5},
                                             "m": {"type": "string"}}},
    "opt": {"type": "object", "default": {}, "properties": {"k": {"default": "x"}}},
}}


def test_defaults_filled_and_given_values_kept() -> None:
    s = mk(DEFAULTS)
    assert V.validate(s, {}) == {"limit": 10, "tags": ["a"], "opt": {"k": "x"}}
    assert V.validate(s, None) == {"limit": 10, "tags": ["a"], "opt": {"k": "x"}}
    out = V.validate(s, {"limit": 3, "cfg": {}, "opt": {"k": "y"}})
    assert out == {"limit": 3, "tags": ["a"], "cfg": {"n": 2.5}, "opt": {"k": "y"}}


def test_missing_nested_object_without_its_own_default_stays_missing() -> None:
    assert "cfg" not in V.validate(mk(DEFAULTS), {})


def test_mutable_defaults_are_not_shared_between_calls() -> None:
    s = mk(DEFAULTS)
    first = V.validate(s, {})
    first["tags"].append("mutated")
    first["opt"]["k"] = "mutated"
    assert V.validate(s, {}) == {"limit": 10, "tags": ["a"], "opt": {"k": "x"}}
    assert DEFAULTS["properties"]["tags"]["default"] == ["a"]  # type: ignore[index]


def test_defaults_filled_in_array_items() -> None:
    s = one("array", items={"type": "object", "properties": {"w": {"default": 1}}})
    assert V.validate(s, {"v": [{}, {"w": 2}]}) == {"v": [{"w": 1}, {"w": 2}]}


def test_result_is_a_new_dict_and_input_untouched() -> None:
    s = mk(DEFAULTS)
    params = {"limit": 1, "tags": ["x"], "opt": {"k": "y"}}
    out = V.validate(s, params)
    assert out == params and out is not params
    nested = {"cfg": {"m": "q"}}
    out = V.validate(s, nested)
    assert out["cfg"] == {"n": 2.5, "m": "q"} and nested == {"cfg": {"m": "q"}}
    empty: dict[str, Any] = {}
    assert V.validate(mk(), empty) is not empty


def test_mapping_params_accepted() -> None:
    assert V.validate(one("integer"), MappingProxyType({"v": "2"})) == {"v": 2}


# -- violations -------------------------------------------------------------------------------

CSV = {
    "type": "object",
    "properties": {"path": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}},
    "required": ["path"],
    "additionalProperties": False,
}


def test_every_violation_at_once_in_one_sentence() -> None:
    err = errors_of(mk(CSV, id="csv-stats"), {"limit": 0})
    assert str(err) == ("invalid parameters for skill 'csv-stats': /limit must be >= 1 (got 0); "
                        "'path' is required")
    assert err.violations == [
        Violation("/limit", "minimum", "/limit must be >= 1 (got 0)", 0),
        Violation("/path", "required", "'path' is required", None),
    ]
    assert err.details["violations"][1] == {"path": "/path", "rule": "required",
                                            "message": "'path' is required", "value": None}
    assert err.info.type.value == "parameter_error" and not err.retryable


def test_many_violations_summarised() -> None:
    s = mk({"type": "object", "properties": {k: {"type": "integer"} for k in "abcdefg"}})
    err = errors_of(s, dict.fromkeys("abcdefg", "x"))
    assert len(err.violations) == 7
    assert str(err).endswith("; and 2 more")
    assert [v.path for v in err.violations] == [f"/{k}" for k in "abcdefg"]


def test_json_pointer_paths_in_nested_arrays_and_objects() -> None:
    s = mk({"type": "object", "properties": {
        "items": {"type": "array", "items": {
            "type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"name": {"type": "string", "minLength": 2}}}},
        "a/b~c": {"type": "integer"},
    }})
    bad = {"items": [{"name": "ok"}, {}, {"name": "x", "extra": 1}] + [{"name": "x"}] * 8,
           "a/b~c": "q"}
    err = errors_of(s, bad)
    got = [(v.path, v.rule, v.value) for v in err.violations]
    assert got[:5] == [
        ("/a~1b~0c", "type", "q"),
        ("/items/1/name", "required", None),
        ("/items/2/extra", "additionalProperties", 1),
        ("/items/2/name", "minLength", "x"),
        ("/items/3/name", "minLength", "x"),
    ]
    assert got[-1] == ("/items/10/name", "minLength", "x")  # numeric, not text, order
    assert "/items/1/name is required" in str(err)


@pytest.mark.parametrize(("prop", "value", "rule", "words"), [
    ({"enum": ["a", "b"]}, "c", "enum", 'must be one of "a", "b" (got "c")'),
    ({"const": 3}, 4, "const", "must be 3 (got 4)"),
    ({"pattern": "^a"}, "b", "pattern", 'must match the pattern "^a" (got "b")'),
    ({"maxLength": 2}, "abc", "maxLength", "must have at most 2 characters"),
    ({"maxItems": 1}, [1, 2], "maxItems", "must have at most 1 items"),
    ({"minProperties": 1}, {}, "minProperties", "must have at least 1 properties"),
    ({"exclusiveMaximum": 5}, 5, "exclusiveMaximum", "must be < 5 (got 5)"),
    ({"maximum": 5}, 6, "maximum", "must be <= 5 (got 6)"),
    ({"multipleOf": 3}, 4, "multipleOf", "must be a multiple of 3"),
    ({"uniqueItems": True}, [1, 1], "uniqueItems", "must not contain duplicate items"),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 1.5, "anyOf",
     "does not match any of the allowed forms"),
    ({"oneOf": [{"type": "number"}, {"type": "integer"}]}, 1, "oneOf", "more than one"),
    ({"not": {"type": "integer"}}, 1, "not", "/v"),
    (False, 1, "properties", "/v is not allowed"),
])
def test_rules_and_messages(prop: Any, value: Any, rule: str, words: str) -> None:
    err = errors_of(mk({"type": "object", "properties": {"v": prop}}), {"v": value})
    assert [(v.path, v.rule) for v in err.violations] == [("/v", rule)]
    assert words in err.violations[0].message
    assert err.violations[0].message in str(err)


def test_false_items_after_prefix_and_dependent_required() -> None:
    s = one("array", prefixItems=[{"type": "integer"}], items=False)
    err = errors_of(s, {"v": [1, 2]})
    assert [(v.path, v.rule, v.value) for v in err.violations] == [("/v/1", "items", 2)]
    s = mk({"type": "object", "dependentRequired": {"a": ["b"]}})
    err = errors_of(s, {"a": 1})
    assert [(v.path, v.rule) for v in err.violations] == [("/b", "dependentRequired")]


def test_long_values_shortened_in_messages() -> None:
    err = errors_of(one("integer"), {"v": "x" * 500})
    assert len(str(err)) < 200 and err.violations[0].value == "x" * 500


# -- limits and shapes -----------------------------------------------------------------------

def test_parameters_too_large() -> None:
    small = ParameterValidator(max_param_bytes=20)
    err = errors_of(mk(), {"v": "x" * 20}, max_param_bytes=20)
    assert err.code == "parameters_too_large"
    assert err.details == {"size": 28, "limit": 20}
    assert "28 bytes" in str(err) and "20-byte limit" in str(err)
    assert small.validate(mk(), {"v": "x" * 12}) == {"v": "x" * 12}  # exactly 20 bytes


def test_a_scripts_files_over_the_limit_are_said_to_be_the_files() -> None:
    """A 1.8 MB photo sent with -f, over MCP or HTTP was refused as "parameters ... are
    2485079 bytes of JSON": the user sent a file, and no setting was named."""
    import base64
    files = {"big.jpg": base64.b64encode(b"\xff" * 3000).decode()}
    err = errors_of(mk(), {"args": [], "files": files}, max_param_bytes=1000)
    assert str(err).startswith("the files sent (3000 bytes, base64 in the call's parameters) "
                               "come to ")
    assert str(err).endswith("over the 1000-byte limit: raise limits.max_param_bytes to at "
                             "least 4034 ([limits] max_param_bytes in skillexec.toml, or "
                             "SKILLEXEC_LIMITS__MAX_PARAM_BYTES)")
    err = errors_of(mk(), {"v": "x" * 20}, max_param_bytes=20)
    assert "limits.max_param_bytes" in str(err) and "files" not in str(err)


def test_size_checked_before_the_schema() -> None:
    err = errors_of(mk({"not": {}}), {"v": "x" * 100}, max_param_bytes=10)
    assert err.code == "parameters_too_large"


@pytest.mark.parametrize("params", [
    {"v": object()}, {1: 2}, {"v": {1: 2}}, {"v": b"bytes"}, {"v": 1 << 70},
    {"v": datetime.datetime(2024, 1, 1)},  # orjson encodes it; JSON Schema cannot see it
])
def test_parameters_not_json(params: Any) -> None:
    assert errors_of(one("string"), params).code == "parameters_not_json"


@pytest.mark.parametrize("params", [[1, 2], "x", 3, ("a",)])
def test_parameters_not_object(params: Any) -> None:
    err = errors_of(mk(), params)
    assert err.code == "parameters_not_object" and "'s'" in str(err)


def test_fast_paths_for_parameterless_schemas() -> None:
    assert V.validate(mk(), {"anything": [1]}) == {"anything": [1]}
    assert V.validate(mk({}), {"a": 1}) == {"a": 1}
    closed = mk({"type": "object", "properties": {}, "additionalProperties": False})
    assert V.validate(closed, {}) == {}
    err = errors_of(closed, {"x": 1})
    assert [(v.path, v.rule) for v in err.violations] == [("/x", "additionalProperties")]


# -- output -----------------------------------------------------------------------------------

OUT = {"type": "object", "properties": {"rows": {"type": "integer", "minimum": 0}},
       "required": ["rows"]}


def test_output_size_limit() -> None:
    v = ParameterValidator(max_output_bytes=100)
    v.validate_output(mk(), "x", size=100)
    with pytest.raises(ResourceError) as info:
        v.validate_output(mk(), "x", size=101)
    assert info.value.code == "output_too_large"
    assert info.value.details == {"size": 101, "limit": 100}


def test_output_schema() -> None:
    s = mk(output=OUT, id="csv-stats")
    V.validate_output(s, {"rows": 3}, size=10)
    V.validate_output(mk(), [1, "anything"])  # no output schema: nothing to check
    with pytest.raises(ExecutionError) as info:
        V.validate_output(s, {"rows": -1, "x": 1})
    err = info.value
    assert err.code == "output_schema_violation" and not isinstance(err, ParameterError)
    assert "csv-stats" in str(err) and "/rows must be >= 0 (got -1)" in str(err)
    assert err.details["violations"] == [{"path": "/rows", "rule": "minimum",
                                          "message": "/rows must be >= 0 (got -1)",
                                          "value": -1}]
    with pytest.raises(ExecutionError) as info:
        V.validate_output(s, [1])
    assert "output must be of type object" in str(info.value)


def test_output_not_coerced() -> None:
    with pytest.raises(ExecutionError):
        V.validate_output(mk(output=OUT), {"rows": "3"})


def test_output_not_json() -> None:
    with pytest.raises(ExecutionError) as info:
        V.validate_output(mk(output=OUT), {"rows": datetime.date(2024, 1, 1)})
    assert info.value.code == "output_not_json"


# -- schemas and the cache --------------------------------------------------------------------

@pytest.mark.parametrize("schema", [
    {"type": "foo"},
    {"type": "object", "properties": {"p": {"type": "string", "pattern": "("}}},
    {"$ref": "#/$defs/missing"},
    {"$ref": "https://example.invalid/schema.json"},  # offline: never fetched
    {"type": "object", "properties": {"n": {"minimum": "one"}}},
])
def test_invalid_schema_is_a_manifest_error(schema: dict[str, Any]) -> None:
    s = mk(schema, id="broken")
    with pytest.raises(ManifestError) as info:
        V.validate(s, {})
    assert "'broken'" in str(info.value) and "parameters_schema" in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(ManifestError, match="output_schema"):
        V.validate_output(mk(output=schema, id="broken"), {})


def test_invalid_schema_error_says_where() -> None:
    s = mk({"type": "object", "properties": {"n": {"minimum": "one"}}})
    with pytest.raises(ManifestError, match="at /properties/n/minimum: "):
        V.validate(s, {})


def test_schema_compiled_once_per_skill_version(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real = jsonschema_rs.validator_for

    def counting(schema: Any, **kw: Any) -> Any:
        calls.append(schema)
        return real(schema, **kw)

    monkeypatch.setattr(jsonschema_rs, "validator_for", counting)
    v = ParameterValidator()
    a1, a2 = mk(CSV, version="1.0.0"), mk(dict(CSV), version="2.0.0")
    for _ in range(5):
        v.validate(a1, {"path": "x"})
        v.validate(a2, {"path": "x"})
    assert len(calls) == 2


def test_cache_evicts_least_recently_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation, "_CACHE_SIZE", 2)
    v = ParameterValidator()
    a, b, c = (mk({"type": "object", "properties": {"n": {"type": "integer"}}})
               for _ in range(3))
    v.validate(a, {})
    v.validate(b, {})
    v.validate(a, {})  # a is now the most recently used
    v.validate(c, {})
    cached = {entry.schema is a.parameters_schema for entry in v._cache.values()}
    assert len(v._cache) == 2 and True in cached
    assert not any(e.schema is b.parameters_schema for e in v._cache.values())


def test_cache_shared_by_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation, "_CACHE_SIZE", 3)
    v = ParameterValidator()
    skills = [one("integer", minimum=i) for i in range(8)]
    failures: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(300):
                s = skills[(i * (k + 1)) % len(skills)]
                assert v.validate(s, {"v": "9"}) == {"v": 9}
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [] and len(v._cache) <= 3


def test_draft_declared_by_the_schema_is_honoured() -> None:
    s = mk({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
            "properties": {"v": {"type": "array", "items": [{"type": "integer"}]}}})
    assert V.validate(s, {"v": [1, "free"]}) == {"v": [1, "free"]}
    assert errors_of(s, {"v": ["x"]}).violations[0].path == "/v/0"


# -- properties -------------------------------------------------------------------------------

SCALARS = {
    "string": st.text(max_size=20),
    "integer": st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1),
    "number": st.floats(allow_nan=False, allow_infinity=False),
    "boolean": st.booleans(),
    "null": st.none(),
}


def schemas(depth: int, *, kinds: tuple[str, ...] = ("scalar", "array", "object")
            ) -> st.SearchStrategy[dict[str, Any]]:
    """Simple schemas: scalars, arrays of one item schema, closed objects, two levels deep."""
    options: list[st.SearchStrategy[dict[str, Any]]] = []
    if "scalar" in kinds:
        options.append(st.sampled_from(sorted(SCALARS)).map(lambda k: {"type": k}))
    if depth < 2 and "array" in kinds:
        options.append(schemas(depth + 1).map(lambda s: {"type": "array", "items": s}))
    if depth < 2 and "object" in kinds:
        props = st.dictionaries(st.text(min_size=1, max_size=8), schemas(depth + 1), max_size=4)
        options.append(props.flatmap(lambda ps: st.lists(
            st.sampled_from(sorted(ps)), unique=True).map(lambda req: {
                "type": "object", "properties": ps, "required": req,
                "additionalProperties": False}) if ps else st.just(
            {"type": "object", "properties": {}, "additionalProperties": False})))
    return st.one_of(options)


def values_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    kind = schema["type"]
    if kind in SCALARS:
        return SCALARS[kind]
    if kind == "array":
        return st.lists(values_for(schema["items"]), max_size=3)
    props, required = schema["properties"], set(schema.get("required", ()))
    return st.fixed_dictionaries(
        {k: values_for(s) for k, s in props.items() if k in required},
        optional={k: values_for(s) for k, s in props.items() if k not in required})


FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(data=st.data(), coerce=st.booleans())
def test_valid_values_come_back_unchanged(data: st.DataObject, coerce: bool) -> None:
    schema = data.draw(schemas(0, kinds=("object",)))
    value = data.draw(values_for(schema))
    out = ParameterValidator(coerce=coerce).validate(mk(schema), value)
    assert out == value
    assert ParameterValidator(coerce=coerce).validate(mk(schema), out) == out


@FAST
@given(n=SCALARS["integer"], x=SCALARS["number"], b=st.booleans(),
       spelling=st.sampled_from([str, lambda b: str(b).lower(), lambda b: str(int(b))]))
def test_stringified_scalars_coerce_back(n: int, x: float, b: bool, spelling: Any) -> None:
    s = mk({"type": "object", "properties": {"n": {"type": "integer"}, "x": {"type": "number"},
                                             "b": {"type": "boolean"},
                                             "ns": {"type": "array", "items": {
                                                 "type": "integer"}}}})
    out = V.validate(s, {"n": str(n), "x": repr(x), "b": spelling(b), "ns": f"{n},{n}"})
    assert out == {"n": n, "x": x, "b": b, "ns": [n, n]}
    assert type(out["n"]) is int and type(out["b"]) is bool


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=12) | st.sampled_from(["3", "2.5", "true", "null", "1,2", "[1]", "{}"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12)

FIXED = mk({
    "$defs": {"P": {"type": "object", "properties": {"w": {"type": "number", "default": 1}}},
              "R": {"type": ["array", "integer"], "items": {"$ref": "#/$defs/R"}}},
    "type": "object",
    "properties": {
        "n": {"type": "integer", "minimum": 0},
        "x": {"type": ["number", "null"]},
        "b": {"type": "boolean", "default": False},
        "tags": {"type": "array", "items": {"type": "integer"}, "maxItems": 3},
        "pair": {"type": "array", "prefixItems": [{"type": "boolean"}, {"$ref": "#/$defs/P"}]},
        "obj": {"$ref": "#/$defs/P"},
        "opt": {"anyOf": [{"$ref": "#/$defs/P"}, {"type": "null"}]},
        "s": {"type": "string", "pattern": "^[a-z]*$"},
        "e": {"enum": [1, "a", None]},
        "rec": {"$ref": "#/$defs/R"},
    },
    "required": ["n"],
})


@FAST
@given(params=st.dictionaries(st.sampled_from(["n", "x", "b", "tags", "pair", "obj", "opt",
                                                "s", "e", "rec", "zz"]) | st.text(max_size=5),
                              JSON, max_size=6) | JSON,
       coerce=st.booleans())
def test_arbitrary_json_raises_only_parameter_error(params: Any, coerce: bool) -> None:
    v = ParameterValidator(coerce=coerce)
    try:
        out = v.validate(FIXED, params)
    except ParameterError as err:
        assert err.code in {"invalid_parameters", "parameters_not_object",
                            "parameters_not_json"}
        assert all(isinstance(x, Violation) for x in err.violations)
        return
    assert isinstance(out, dict) and out is not params


def near(*values: Any) -> st.SearchStrategy[Any]:
    """Mostly values FIXED accepts (as given or as strings to coerce), sometimes any JSON."""
    return st.integers(0, 4).flatmap(lambda i: JSON if i == 0 else st.sampled_from(values))


NEARLY_VALID = st.fixed_dictionaries({"n": near(0, 7, "3", "3.0", " 12 ")}, optional={
    "x": near(None, 2.5, "null", "-1e3", "4"),
    "b": near(True, "no", "1", "TRUE"),
    "tags": near([], [1, 2], "1,2", "[3]", ["4", 5], ""),
    "pair": near([True, {}], ["yes", {"w": "2"}], '[false, {"w": 3}]', "true"),
    "obj": near({}, {"w": "1e2"}, '{"w": 0.5}', "{}"),
    "opt": near(None, "null", {}, '{"w": "7"}'),
    "s": near("abc", ""),
    "e": near(1, "a", None, "1"),
    "rec": near(3, "4", "a,b", "[[1], 2]", "[]", "5, [6]"),
})


@FAST
@given(params=NEARLY_VALID, coerce=st.booleans())
def test_validate_is_idempotent(params: dict[str, Any], coerce: bool) -> None:
    v = ParameterValidator(coerce=coerce)
    try:
        once = v.validate(FIXED, params)
    except ParameterError:
        return
    assert v.validate(FIXED, once) == once
    assert V.validate(FIXED, once) == once  # a coerced result needs no more coercion


def test_branch_defaults_only_where_the_branch_is_the_one_object_form() -> None:
    # Two object forms: filling 'op' from the first would break the second form's
    # additionalProperties: false when the value is meant for it.
    s = mk({"type": "object", "properties": {"where": {"anyOf": [
        {"type": "object", "properties": {"field": {"type": "string"},
                                          "op": {"type": "string", "default": "=="}},
         "required": ["field"], "additionalProperties": False},
        {"type": "object", "properties": {"any": {"type": "array"}},
         "required": ["any"], "additionalProperties": False}]}}})
    assert V.validate(s, {"where": {"any": [1]}}) == {"where": {"any": [1]}}
    assert V.validate(s, {"where": {"field": "a"}}) == {"where": {"field": "a"}}


def test_alternatives_that_differ_by_what_they_require_say_so() -> None:
    s = mk({"type": "object", "properties": {"path": {"type": "string"},
                                             "text": {"type": "string"}},
            "anyOf": [{"required": ["path"]}, {"required": ["text"]}]})
    with pytest.raises(ParameterError) as info:
        V.validate(s, {})
    assert "needs one of 'path' or 'text'" in str(info.value)


def _nested(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["x"] = {}
        node = node["x"]
    return root


def _cyclic() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    return loop


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"v": 2**80}, "/v is an integer beyond the 64-bit range"),
        ({"v": {1: "a"}}, "/v has a key 1 that is not a string"),
        ({"v": ["ok", b"raw"]}, "/v/1 is a Python bytes, which JSON cannot represent"),
        ({"v": {"a/b": object()}}, "/v/a~1b is a Python object"),
        ({"v": "\ud800"}, "/v holds text that is not valid Unicode"),
        (_nested(300), "nested more than 254 levels deep"),
        (_cyclic(), "nested more than 254 levels deep (or a value contains itself)"),
    ],
)
def test_parameters_not_json_say_where_and_why(params: Any, says: str) -> None:
    err = errors_of(mk(), params)
    assert err.code == "parameters_not_json"
    assert says in err.message
