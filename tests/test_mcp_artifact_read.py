"""``artifact_read`` over a real Streamable HTTP endpoint, with the SDK's own client: the
tool says it gives what reading ``skillexec://artifacts/{id}`` gives, for hosts that let
only the user read resources, so a binary artifact (the filled PDF of a form) must come
back too, not as an error that points the model at a resource it cannot read."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from skillexec import SkillExecutionEngine
from skillexec.mcp.http import http_app
from skillexec.mcp.server import Caller, McpServer
from tests.test_mcp_http import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

# Bytes that are not UTF-8, as a real PDF's are.
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n%%EOF\n"


async def authenticate(raw: str | None) -> Caller | None:
    return Caller(principal="alice") if raw == "k-all" else None


@pytest.fixture
async def endpoint(tmp_path: Path) -> AsyncIterator[str]:
    folder = tmp_path / "skills" / "pdfmaker"
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps({
        "id": "pdfmaker", "version": "1.0.0", "entry_point": "main.py:execute",
        "description": "Makes a PDF and a note."}))
    (folder / "main.py").write_text(
        f"PDF = {PDF!r}\n\n"
        "def execute(data, context):\n"
        "    context.save_artifact('out.pdf', PDF, 'application/pdf')\n"
        "    context.save_artifact('note.txt', b'ok', 'text/plain')\n"
        "    return {'made': 2}\n")
    async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                    data_dir=tmp_path / "data") as engine:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(
            http_app(McpServer(engine), authenticate=authenticate), host="127.0.0.1",
            port=port, log_level="warning", lifespan="on"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve)
            with anyio.fail_after(10):
                while not server.started:
                    await anyio.sleep(0.02)
            yield f"http://127.0.0.1:{port}/mcp"
            server.should_exit = True


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_artifact_read_returns_a_binary_artifact_as_an_embedded_blob(
        endpoint: str, mode: str) -> None:
    transport = streamable_http_client(
        endpoint, http_client=create_mcp_http_client(headers={"X-API-Key": "k-all"}))
    async with Client(transport, mode=mode) as c:
        made = await c.call_tool("pdfmaker", {})
        assert not made.is_error, made.content
        links = {b.name: str(b.uri) for b in made.content if b.type == "resource_link"}
        pdf_id = links["out.pdf"].rsplit("/", 1)[-1]
        read = await c.call_tool("artifact_read", {"artifact_id": pdf_id})
        assert not read.is_error, read.content
        blocks = [b for b in read.content if b.type == "resource"]
        assert len(blocks) == 1
        res = blocks[0].resource
        assert str(res.uri) == links["out.pdf"]
        assert res.mime_type == "application/pdf"
        assert base64.b64decode(res.blob) == PDF  # type: ignore[union-attr]
        note = await c.call_tool("artifact_read",
                                 {"artifact_id": links["note.txt"].rsplit("/", 1)[-1]})
        assert [(b.type, getattr(b, "text", None)) for b in note.content] == [("text", "ok")]
