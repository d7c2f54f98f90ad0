"""``run_skill_script``'s ``stdin`` is text the script reads as given: its error said "text
(base64)", and a model that followed it sent base64, which the script then read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from skillexec import SkillExecutionEngine
from skillexec.mcp.server import McpServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[McpServer]:
    folder = tmp_path / "skills" / "echo"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: echo\ndescription: Echoes.\n---\nRun.\n")
    (folder / "scripts" / "cat.py").write_text(
        "import sys\nsys.stdout.write(sys.stdin.read())\n")
    async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                    data_dir=tmp_path / "data") as engine:
        yield McpServer(engine)


async def test_stdin_is_said_to_be_text_read_as_given(served: McpServer) -> None:
    async with Client(served.server, mode="legacy") as client:  # type: ignore[arg-type]
        bad = await client.call_tool("run_skill_script", {
            "skill": "echo", "script": "scripts/cat.py", "stdin": 5})
        given = await client.call_tool("run_skill_script", {
            "skill": "echo", "script": "scripts/cat.py", "stdin": "aGk="})
    assert bad.is_error
    assert bad.content[0].text == (  # type: ignore[union-attr]
        "run_skill_script: 'stdin' must be text, which the script reads as given (not "
        "base64).")
    assert given.structured_content["stdout"] == "aGk="  # type: ignore[index]
    tool = next(t for t in (await _tools(served)) if t.name == "run_skill_script")
    assert "as given" in tool.input_schema["properties"]["stdin"]["description"]


async def _tools(served: McpServer) -> list[Any]:
    async with Client(served.server, mode="legacy") as client:  # type: ignore[arg-type]
        return list((await client.list_tools()).tools)
