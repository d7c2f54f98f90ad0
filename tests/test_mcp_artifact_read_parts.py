"""``artifact_read`` of a large artifact: a model can read it all, part by part. A long text
was cut at ``mcp.max_text_chars`` with a note pointing at a ``structuredContent`` the result
did not have (and no way to read the rest); a 30 MB binary came back whole, as 40 MB of
base64 in one tool result."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from skillexec import SkillExecutionEngine
from skillexec.mcp.server import McpServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

TEXT_CHARS = 50_000
BLOB_BYTES = 3 << 20


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[McpServer]:
    folder = tmp_path / "skills" / "maker"
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps({
        "id": "maker", "version": "1.0.0", "entry_point": "main.py:execute",
        "description": "Makes a long text and a large binary."}))
    (folder / "main.py").write_text(
        "import random\n\n"
        "def execute(data, context):\n"
        f"    text = ''.join(chr(0x61 + i % 26) + ('é' if i % 7 == 0 else '') "
        f"for i in range({TEXT_CHARS}))[:{TEXT_CHARS}]\n"
        "    context.save_artifact('long.txt', text.encode(), 'text/plain')\n"
        f"    blob = random.Random(1).randbytes({BLOB_BYTES})\n"
        "    context.save_artifact('big.bin', b'\\xff' + blob[1:], "
        "'application/octet-stream')\n"
        "    return {'made': 2}\n")
    async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                    data_dir=tmp_path / "data") as engine:
        yield McpServer(engine)


def _note(res: Any) -> str:
    notes = [b.text for b in res.content if b.type == "text" and b.text.startswith("[")]
    assert len(notes) == 1, res.content
    return str(notes[0])


async def test_a_long_text_is_read_in_parts(served: McpServer) -> None:
    async with Client(served.server, mode="legacy") as client:  # type: ignore[arg-type]
        made = await client.call_tool("maker", {})
        links = {b.name: str(b.uri) for b in made.content if b.type == "resource_link"}
        art = links["long.txt"].rsplit("/", 1)[-1]
        parts: list[str] = []
        offset: int | None = 0
        while offset is not None:
            res = await client.call_tool("artifact_read", {"artifact_id": art,
                                                            "offset": offset})
            assert not res.is_error, res.content
            assert res.structured_content is None
            note = _note(res)
            assert "structuredContent" not in note
            parts.append(res.content[0].text)  # type: ignore[union-attr]
            assert len(parts[-1]) <= served.settings.max_text_chars
            nxt = re.search(r"offset=(\d+)", note)
            offset = int(nxt.group(1)) if nxt else None
        assert len(parts) == 3
        whole = (await client.read_resource(links["long.txt"])).contents[0]
        assert "".join(parts) == whole.text  # type: ignore[union-attr]
        some = await client.call_tool("artifact_read", {"artifact_id": art, "offset": 10,
                                                         "length": 5})
        assert some.content[0].text == whole.text[10:15]  # type: ignore[union-attr]
        past = await client.call_tool("artifact_read", {"artifact_id": art,
                                                         "offset": TEXT_CHARS})
        assert past.is_error
        assert past.content[0].text == (  # type: ignore[union-attr]
            f"artifact_read: offset {TEXT_CHARS} is past the end of artifact {art} "
            f"({TEXT_CHARS} characters).")


async def test_a_large_binary_is_read_in_parts_of_at_most_a_mebibyte(
        served: McpServer) -> None:
    async with Client(served.server, mode="legacy") as client:  # type: ignore[arg-type]
        made = await client.call_tool("maker", {})
        links = {b.name: str(b.uri) for b in made.content if b.type == "resource_link"}
        art = links["big.bin"].rsplit("/", 1)[-1]
        got = b""
        offset: int | None = 0
        while offset is not None:
            res = await client.call_tool("artifact_read", {"artifact_id": art,
                                                            "offset": offset})
            assert not res.is_error, res.content
            blob = base64.b64decode(res.content[0].resource.blob)  # type: ignore[union-attr]
            assert len(blob) <= 1 << 20
            got += blob
            nxt = re.search(r"offset=(\d+)", _note(res))
            offset = int(nxt.group(1)) if nxt else None
        whole = (await client.read_resource(links["big.bin"])).contents[0]
        assert got == base64.b64decode(whole.blob)  # type: ignore[union-attr]
        assert len(got) == BLOB_BYTES
