"""A skill's TypeScript declarations and source maps are served as text: ``*.d.mts`` was
listed as ``model/vnd.mts`` (a 3D model), ``*.mjs.map`` (JSON) as
``application/octet-stream``, so ``resources/read`` sent them as base64 blobs (a 0.8 MB map
became 2.1 MB)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client

from skillexec import SkillExecutionEngine
from skillexec.mcp.server import McpServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

FILES = {"scripts/cli.mjs": ("text/javascript", "export const x = 1;\n"),
         "scripts/cli.d.mts": ("text/typescript", "export declare const x: number;\n"),
         "scripts/cli.d.ts": ("text/typescript", "export declare const y: number;\n"),
         "scripts/util.cts": ("text/typescript", "export const z: number = 1;\n"),
         "scripts/cli.mjs.map": ("application/json",
                                 json.dumps({"version": 3, "mappings": "AAAA"}))}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[McpServer]:
    folder = tmp_path / "skills" / "records"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: records\ndescription: D.\n---\nRun.\n")
    for rel, (_, text) in FILES.items():
        (folder / rel).write_text(text)
    async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                    data_dir=tmp_path / "data") as engine:
        yield McpServer(engine)


async def test_declarations_and_source_maps_are_text(served: McpServer) -> None:
    base = "skillexec://skills/records/"
    async with Client(served.server, mode="legacy") as client:  # type: ignore[arg-type]
        listed = {str(r.uri): r.mime_type for r in (await client.list_resources()).resources}
        for rel, (mime, text) in FILES.items():
            assert listed.get(base + rel) == mime, (rel, listed)
            got = (await client.read_resource(base + rel)).contents[0]
            assert got.mime_type == mime
            assert getattr(got, "text", None) == text, rel
