"""A hostile skill's schemas: a manifest cannot make validating a call hold the engine.

A chain of ``anyOf: [{$ref: next}, {$ref: next}]`` forty deep is a few kilobytes of JSON
and 2**40 subschemas to the validator: one call whose value fails it held the engine's
thread, with the GIL, for hours (SIGTERM did not stop it either).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from skillexec.errors import ManifestError, ParameterError
from skillexec.skills.model import Entry, EntryKind, Skill
from skillexec.validation import ParameterValidator

pytestmark = pytest.mark.timeout(120)


def chain(depth: int, *, through: str | None = None) -> dict[str, Any]:
    """Parameters whose ``x`` is a doubling ``$ref`` chain ``depth`` deep; ``through``: each
    link's two branches are properties of that name and another (data keywords' names)."""
    defs: dict[str, Any] = {}
    for i in range(depth):
        ref = {"$ref": f"#/$defs/d{i + 1}"}
        defs[f"d{i}"] = ({"anyOf": [ref, ref]} if through is None else
                         {"type": "object", "properties": {through: ref, "examples": ref}})
    defs[f"d{depth}"] = {"type": "integer"}
    return {"type": "object", "properties": {"x": {"$ref": "#/$defs/d0"}}, "$defs": defs}


def skill(schema: dict[str, Any]) -> Skill:
    return Skill(id="refs", version="1.0.0", entry=Entry(kind=EntryKind.PYTHON),
                 parameters_schema=schema)


def test_a_call_against_an_exploding_schema_is_refused_not_run(tmp_path: Path) -> None:
    folder = tmp_path / "refs"
    folder.mkdir()
    (folder / "skill.json").write_text(json.dumps({
        "id": "refs", "version": "1.0.0", "entry_point": "main:execute",
        "parameters_schema": chain(40)}))
    (folder / "main.py").write_text("def execute(data):\n    return 1\n")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "skillexec", "run", str(folder), "-p", "x=abc", "--json",
             "--data-dir", str(tmp_path / "data")],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("validating one call against the schema held the engine for 60 s")
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "invalid_schema", error
    assert "$ref" in error["message"]


def id_chain(depth: int, *, anchors: bool) -> dict[str, Any]:
    """The same chain, each link named by its ``$id`` (resolved inside the document,
    nothing fetched) or by an ``$anchor``."""
    def name(i: int) -> dict[str, str]:
        return {"$anchor": f"a{i}"} if anchors else {"$id": f"https://x.test/d{i}"}

    def ref(i: int) -> dict[str, str]:
        return {"$ref": f"#a{i}"} if anchors else {"$ref": f"https://x.test/d{i}"}

    defs = {f"d{i}": {**name(i), "anyOf": [ref(i + 1), ref(i + 1)]} for i in range(depth)}
    defs[f"d{depth}"] = {**name(depth), "type": "integer"}
    return {"type": "object", "properties": {"x": ref(0)}, "$defs": defs}


@pytest.mark.parametrize("anchors", [False, True])
def test_a_chain_named_by_id_or_anchor_is_seen(anchors: bool) -> None:
    with pytest.raises(ManifestError) as caught:
        ParameterValidator().validate(skill(id_chain(40, anchors=anchors)), {"x": "abc"})
    assert caught.value.code == "invalid_schema"


@pytest.mark.parametrize("through", ["default", "enum", "const"])
def test_a_chain_through_properties_named_like_keywords_is_seen(through: str) -> None:
    with pytest.raises(ManifestError) as caught:
        ParameterValidator().validate(skill(chain(40, through=through)), {"x": {}})
    assert caught.value.code == "invalid_schema"


def test_reused_and_recursive_schemas_still_validate() -> None:
    v = ParameterValidator()
    with pytest.raises(ParameterError):  # a short chain: checked as before
        v.validate(skill(chain(8)), {"x": "abc"})
    tree = {"type": "object", "properties": {"root": {"$ref": "#/$defs/node"}}, "$defs": {
        "node": {"type": "object", "properties": {
            "name": {"type": "string"},
            "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}}
    deep: dict[str, Any] = {"name": "leaf"}
    for _ in range(50):
        deep = {"name": "n", "kids": [deep, {"name": "x"}]}
    assert v.validate(skill(tree), {"root": deep}) == {"root": deep}
    with pytest.raises(ParameterError):
        v.validate(skill(tree), {"root": {"kids": [{"name": 5}]}})
