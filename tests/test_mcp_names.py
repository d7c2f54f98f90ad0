"""Tool names and schemas every client accepts (hypothesis: any ids, any order)."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from skillexec.mcp.names import tool_names
from skillexec.mcp.schemas import input_schema, output_schema, self_contained

SAFE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def test_examples() -> None:
    names = tool_names(["pdf.summarize", "csv-stats", "a/b c", "...", "run_skill_script"],
                       reserved=["run_skill_script"])
    assert names["pdf.summarize"] == "pdf_summarize"
    assert names["csv-stats"] == "csv-stats"
    assert names["a/b c"] == "a_b_c"
    assert names["..."] == "skill"
    assert names["run_skill_script"].startswith("run_skill_script_")  # a skill never shadows


def test_collisions_get_a_hash_each() -> None:
    names = tool_names(["pdf.summarize", "pdf_summarize", "PDF-summarize"])
    assert len(set(names.values())) == 2 + 1
    assert names["pdf.summarize"] != "pdf_summarize" and names["pdf_summarize"] != "pdf_summarize"
    assert len({n.lower() for n in names.values()}) == 3


ids = st.lists(st.text(min_size=1, max_size=120), min_size=1, max_size=20, unique=True)


@given(ids, st.randoms())
def test_names_are_safe_unique_and_deterministic(skill_ids: list[str], rnd: object) -> None:
    names = tool_names(skill_ids)
    assert set(names) == set(skill_ids)
    assert all(SAFE.match(n) for n in names.values())
    assert len({n.lower() for n in names.values()}) == len(skill_ids)
    shuffled = list(skill_ids)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert tool_names(shuffled) == names


def test_refs_are_inlined_and_roots_are_objects() -> None:
    schema = {"type": "object", "$defs": {"p": {"type": "object", "properties": {
        "x": {"$ref": "#/$defs/n"}}}, "n": {"type": "number"}},
        "properties": {"point": {"$ref": "#/$defs/p"}, "list": {"type": "array"}}}
    got = input_schema(schema)
    assert got["properties"]["point"]["properties"]["x"] == {"type": "number"}
    assert got["properties"]["list"]["items"] == {}
    assert "$defs" not in got and "$ref" not in str(got)
    assert input_schema(None) == {"type": "object"}
    assert input_schema({"properties": {"a": {}}})["type"] == "object"
    assert input_schema({"type": "string"})["type"] == "object"
    assert output_schema({"type": "array", "items": {"type": "string"}}) == (
        {"type": "object", "properties": {"result": {"type": "array", "items": {
            "type": "string"}}}, "required": ["result"]}, True)
    assert output_schema({"type": "object"}) == ({"type": "object"}, False)
    assert output_schema(None) == (None, False)


def test_a_recursive_ref_ends() -> None:
    tree = {"type": "object", "properties": {"child": {"$ref": "#"}}}
    out = self_contained(tree)
    depth, node = 0, out
    while "properties" in node:
        node, depth = node["properties"]["child"], depth + 1
    assert 1 < depth < 20 and "$ref" not in str(out)
    assert self_contained({"$ref": "https://example.com/s.json"}) == {}  # never fetched


def test_a_ref_used_twice_per_level_stays_small() -> None:
    # json-transform's condition: all/any/not of conditions. Inlined to the depth limit it
    # was branches ** depth copies, and `skillexec mcp` never answered tools/list.
    cond = {"anyOf": [{"type": "object", "properties": {"field": {"type": "string"}}},
                      {"type": "object", "properties": {
                          "all": {"type": "array", "items": {"$ref": "#/$defs/c"}}}},
                      {"type": "object", "properties": {
                          "any": {"type": "array", "items": {"$ref": "#/$defs/c"}}}}]}
    schema = {"type": "object", "$defs": {"c": cond},
              "properties": {"where": {"$ref": "#/$defs/c"}}}
    out = input_schema(schema)
    assert "$ref" not in str(out) and len(json.dumps(out)) < 200_000
    assert out["properties"]["where"]["anyOf"][0]["properties"]["field"] == {"type": "string"}
