"""What the README says of list changes holds: the skills folder is read at start (a folder
added under a running server is served after a restart), and skills the process adds are
announced. It said "when skills are added, replaced or removed, clients hear it", and a
tester who added a folder under a running ``skillexec mcp`` heard nothing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from skillexec import SkillExecutionEngine
from skillexec.mcp.server import McpServer
from tests._mcp import write_skills
from tests.conftest import ROOT

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


def test_the_readme_says_a_new_folder_needs_a_restart() -> None:
    readme = (ROOT / "README.md").read_text()
    mcp = readme[readme.index("## MCP ("):readme.index("## Configuration")]
    said = " ".join(mcp.split())
    assert "The skills folder is read when the server starts: a skill folder added, " \
           "replaced or removed later is served after a restart" in said
    assert "When skills are added, replaced or removed, clients hear it" not in said


async def test_a_folder_added_later_waits_for_a_restart_a_loaded_one_is_heard(
        tmp_path: Path) -> None:
    skills = write_skills(tmp_path / "skills")
    spare = write_skills(tmp_path / "spare")
    got: list[Any] = []

    async def handler(message: Any) -> None:
        if getattr(message, "method", None) == "notifications/tools/list_changed":
            got.append(message)

    async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "data") as engine:
        server = McpServer(engine)
        async with Client(server.server, mode="legacy",  # type: ignore[arg-type]
                          message_handler=handler) as client:
            await client.list_tools()
            shutil.copytree(spare / "echo", skills / "echo2")
            (skills / "echo2" / "skill.json").write_text(
                (skills / "echo2" / "skill.json").read_text().replace('"text.echo"',
                                                                      '"text.echo2"'))
            await anyio.sleep(2.5)  # past the server's poll of the registry
            names = {t.name for t in (await client.list_tools()).tools}
            assert "text_echo2" not in names and got == []
            engine.load_skills(skills / "echo2")
            with anyio.fail_after(10):
                while not got:
                    await anyio.sleep(0.05)
            names = {t.name for t in (await client.list_tools()).tools}
            assert "text_echo2" in names
