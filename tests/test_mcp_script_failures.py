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
        # Whole, as a success's output is (a scanner's exit 1 is its findings report).
        assert res.structured_content == {
            "exit_code": 1, "stderr": "",
            "stdout": "Converting to PDF...\nError: [Errno 2] No such file or directory: "
                      "'soffice'\n"}

        both = await client.call_tool("run_skill_script",
                                      {"skill": "slides", "script": "scripts/both.py"})
        text = "\n".join(c.text for c in both.content if c.type == "text")
        assert "\nstdout:\nstep 1 done\n" in text, text
        assert text.endswith("\nstderr:\nbad argument: --size must be a number\n"), text


async def test_a_long_script_gets_heartbeats_and_files_of_the_wrong_shape_are_said(
        tmp_path: Path) -> None:
    """run_skill_script sent no progress at all (a 22 s run: nothing; a host that resets its
    timeout on progress gave up), and ``files`` as a list broke the handler ('list' object
    has no attribute 'items', a protocol error and a traceback on stderr)."""
    from skillexec.config_sections import McpConfig

    folder = tmp_path / "skills" / "slow"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: slow\ndescription: Slow.\n---\nRun it.\n")
    (folder / "scripts" / "wait.py").write_text("import time\ntime.sleep(2)\nprint('done')\n")
    seen: list[tuple[float, str | None]] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        seen.append((p, message))

    async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                    data_dir=tmp_path / "data") as engine:
        server = McpServer(engine, settings=McpConfig(heartbeat_s=0.3))
        async with Client(server.server, mode="legacy") as client:  # type: ignore[arg-type]
            res = await client.call_tool("run_skill_script",
                                         {"skill": "slow", "script": "scripts/wait.py"},
                                         progress_callback=on_progress)
            assert not res.is_error
            bad = [await client.call_tool("run_skill_script", {
                "skill": "slow", "script": "scripts/wait.py", **wrong})
                for wrong in ({"files": ["photo.png"]}, {"files": "photo.png"},
                              {"stdin": {"a": 1}})]
    assert len([p for p, m in seen if m and m.startswith("running (")]) >= 3
    assert seen[-1][0] == 1.0
    texts = ["\n".join(c.text for c in r.content if c.type == "text") for r in bad]
    assert all(r.is_error for r in bad)
    assert texts[0] == texts[1] == (
        "run_skill_script: 'files' must map workspace paths to their content in base64 "
        "({\"photo.png\": \"iVBOR...\"}).")
    assert texts[2] == ("run_skill_script: 'stdin' must be text, which the script reads as "
                        "given (not base64).")
