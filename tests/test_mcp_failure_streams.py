"""A failed script's streams, cut in the text of its result, are whole where the cut's note
says: a timed-out, cancelled or too talkative script's result said "the whole value is in
structuredContent" and had no structuredContent (only an exit's had)."""

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
    folder = tmp_path / "skills" / "talk"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: talk\ndescription: Talks.\n---\nRun.\n")
    (folder / "scripts" / "hang.py").write_text(
        "import sys, time\n"
        "sys.stdout.write('x' * 29999 + '\\n')\n"
        "sys.stdout.flush()\n"
        "time.sleep(60)\n")
    (folder / "scripts" / "flood.py").write_text(
        "import sys\nsys.stdout.write(('y' * 99 + '\\n') * 90000)\n")  # past the 8 MiB cap
    async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                    data_dir=tmp_path / "data") as engine:
        yield McpServer(engine)


async def test_a_timed_out_scripts_stdout_is_whole_in_structured_content(
        served: McpServer) -> None:
    async with Client(served.server, mode="legacy") as client:  # type: ignore[arg-type]
        res = await client.call_tool("run_skill_script", {
            "skill": "talk", "script": "scripts/hang.py", "timeout_s": 2})
    assert res.is_error
    text = res.content[0].text  # type: ignore[union-attr]
    assert "timed_out (timeout_error/execution_timeout)" in text
    assert "[cut: 10000 of 30000 characters shown; the whole stdout is in " \
           "structuredContent]" in text
    assert res.structured_content is not None
    assert res.structured_content["stdout"] == "x" * 29999 + "\n"


async def test_every_cut_that_points_at_structured_content_is_backed(
        served: McpServer) -> None:
    async with Client(served.server, mode="legacy") as client:  # type: ignore[arg-type]
        res = await client.call_tool("run_skill_script", {
            "skill": "talk", "script": "scripts/flood.py"})
    assert res.is_error
    text = res.content[0].text  # type: ignore[union-attr]
    assert "output_too_large" in text
    assert "[cut:" in text and "the whole value" not in text
    assert res.structured_content is not None
    kept = res.structured_content["stdout"]
    assert len(kept) > served.settings.max_text_chars // 2
    assert f"of {len(kept)} characters shown; the whole stdout is in structuredContent]" \
        in text
