"""Binary parameters of entries (DESIGN §3.5): a property with "format": "binary" or a
contentMediaType takes bytes (base64 in JSON); the skill receives a path in its workspace."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from skillexec import SkillExecutionEngine
from skillexec.runtime.binary_inputs import binary_fields
from skillexec.task import ExecutionResult, TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import arun

pytestmark = pytest.mark.timeout(120)

CODE = """
import os

def execute(input_data, context):
    out = {}
    for name in ("doc", "picture"):
        path = input_data[name]
        with open(path, "rb") as f:
            out[name] = {"path": path, "inside": path.startswith(str(context.workdir)),
                         "data": f.read().decode("latin-1")}
    out["note"] = input_data["note"]
    return out
"""


def make_skill(root: Path, isolation: str) -> Path:
    folder = root / "takes-bytes"
    folder.mkdir(parents=True)
    (folder / "main.py").write_text(CODE)
    (folder / "skill.json").write_text(json.dumps({
        "id": "takes-bytes", "name": "takes-bytes", "version": "1.0.0",
        "entry_point": "main:execute", "execution": {"isolation": isolation},
        "parameters_schema": {"type": "object", "required": ["doc", "picture", "note"],
                              "properties": {
                                  "doc": {"type": "string", "format": "binary"},
                                  "picture": {"type": "string",
                                              "contentMediaType": "image/png"},
                                  "note": {"type": "string"}}}}))
    return folder


@pytest.mark.parametrize("isolation", ["sandbox", "process"])
def test_bytes_become_a_file_in_the_workspace(tmp_path: Path, isolation: str) -> None:
    if isolation == "sandbox":
        need_sandbox()
    make_skill(tmp_path / "skills", isolation)

    async def go() -> tuple[ExecutionResult, ExecutionResult]:
        config: dict[str, Any] = {"isolation": {"trusted_skills": ["takes-bytes"]}}
        from skillexec.config import EngineConfig
        async with SkillExecutionEngine(config=EngineConfig(
                skills_dir=tmp_path / "skills", data_dir=tmp_path / "d", **config)) as e:
            from_python = await e.execute("takes-bytes", {
                "doc": b"%PDF-1.7 \x00\xff", "picture": bytearray(b"\x89PNG"), "note": "n"})
            from_json = await e.execute("takes-bytes", {
                "doc": base64.b64encode(b"json doc").decode(),
                "picture": base64.b64encode(b"json png").decode(), "note": "aGk="})
            return from_python, from_json
    a, b = arun(go())
    assert a.status is TaskStatus.SUCCEEDED, a.error
    assert a.output["doc"]["data"] == b"%PDF-1.7 \x00\xff".decode("latin-1")
    assert a.output["doc"]["inside"] and a.output["picture"]["inside"]
    assert a.output["picture"]["path"].endswith("/inputs/picture.png")
    assert a.output["picture"]["data"] == "\x89PNG"
    assert b.status is TaskStatus.SUCCEEDED, b.error
    assert b.output["doc"]["data"] == "json doc"
    assert b.output["note"] == "aGk="  # an ordinary string property is left as it is


def test_bad_base64_is_a_parameter_error(tmp_path: Path) -> None:
    need_sandbox()
    make_skill(tmp_path / "skills", "sandbox")

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            return await e.execute("takes-bytes", {"doc": "not base64!", "picture": "",
                                                   "note": ""})
    r = arun(go())
    assert r.status is TaskStatus.FAILED and r.error is not None
    assert r.error.code == "invalid_binary"


def test_binary_fields_of_a_schema() -> None:
    assert binary_fields({"properties": {"a": {"format": "binary"},
                                         "b": {"contentMediaType": "application/pdf"},
                                         "c": {"type": "string"}}}) == (("a", ""),
                                                                        ("b", ".pdf"))
    assert binary_fields({"type": "object"}) == ()
