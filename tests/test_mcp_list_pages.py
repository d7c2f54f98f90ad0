"""``prompts/list`` and ``resources/list`` of a large instructions-only catalog come in pages
with ``nextCursor``: 5,000 skills were one 2 MB prompts list and one 1.8 MB resources list
(hosts that make prompts slash commands got 5,000 at once)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client, MCPError

from skillexec import SkillExecutionEngine
from skillexec.mcp.server import McpServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300)]

SKILLS = 620


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[McpServer]:
    root = tmp_path / "skills"
    for i in range(SKILLS):
        folder = root / f"guide-{i:04d}"
        (folder / "references").mkdir(parents=True)
        (folder / "SKILL.md").write_text(
            f"---\nname: guide-{i:04d}\ndescription: Guide {i}.\n---\nStep {i}.\n")
        (folder / "references" / "notes.md").write_text(f"notes {i}\n")
    async with SkillExecutionEngine(skills_dir=root, data_dir=tmp_path / "data") as engine:
        yield McpServer(engine)


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_prompts_and_resources_come_in_pages(served: McpServer, mode: str) -> None:
    async with Client(served.server, mode=mode) as client:  # type: ignore[arg-type]
        prompts, pages, cursor = [], 0, None
        while True:
            page = await client.list_prompts(cursor=cursor)
            prompts += [p.name for p in page.prompts]
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert pages == 2 and len(prompts) == SKILLS == len(set(prompts))
        assert prompts == sorted(prompts)
        uris, pages, cursor = [], 0, None
        while True:
            res = await client.list_resources(cursor=cursor)
            uris += [str(r.uri) for r in res.resources]
            pages += 1
            cursor = res.next_cursor
            if cursor is None:
                break
        assert pages == 3 and len(uris) == 2 * SKILLS == len(set(uris))
        with pytest.raises(MCPError) as bad:
            await client.list_prompts(cursor="nonsense")
    assert "cursor" in str(bad.value)
