"""A bundled script that fails tells the MCP client why, wherever it wrote it.

Py Copilot's ``pptx/scripts/thumbnail.py`` prints ``Error: ... 'soffice'`` on stdout and
exits 1: over MCP the model got ``the script exited with status 1.`` and nothing else (only
stderr was passed on, and it was empty), so it could not tell a missing program from its own
wrong arguments. The failure's text now carries the script's stdout as well as its stderr.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client

from skillexec import SkillExecutionEngine
from skillexec.mcp.server import McpServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[McpServer]:
    folder = tmp_path / "skills" / "slides"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        "---\nname: slides\ndescription: Slide tools. Use for decks.\n---\nRun scripts.\n")
    (folder / "scripts" / "thumb.py").write_text(
        "import sys\n"
        "print('Converting to PDF...')\n"
        "print(\"Error: [Errno 2] No such file or directory: 'soffice'\")\n"
        "sys.exit(1)\n")
    (folder / "scripts" / "both.py").write_text(
        "import sys\n"
        "print('step 1 done')\n"
        "sys.exit('bad argument: --size must be a number')\n")
    async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                    data_dir=tmp_path / "data") as engine:
        yield McpServer(engine)


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_a_failed_scripts_stdout_reaches_the_client(served: McpServer,
                                                          mode: str) -> None:
    async with Client(served.server, mode=mode) as client:  # type: ignore[arg-type]
        res = await client.call_tool("run_skill_script",
                                     {"skill": "slides", "script": "scripts/thumb.py"})
        assert res.is_error
        text = "\n".join(c.text for c in res.content if c.type == "text")
        assert text == ("slides:scripts/thumb.py failed (execution_error/script_exit): the "
                        "script exited with status 1.\n"
                        "stdout:\nConverting to PDF...\n"
                        "Error: [Errno 2] No such file or directory: 'soffice'\n")

        both = await client.call_tool("run_skill_script",
                                      {"skill": "slides", "script": "scripts/both.py"})
        text = "\n".join(c.text for c in both.content if c.type == "text")
        assert "\nstdout:\nstep 1 done\n" in text, text
        assert text.endswith("\nstderr:\nbad argument: --size must be a number\n"), text
