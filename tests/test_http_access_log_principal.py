"""The access log named no principal for /mcp and WebSocket requests (``principal:
null``), and a WebSocket's status was 0: an operator could not tell which key flooded
/mcp. Now both name the key's principal, an accepted WebSocket is 101 and a refused one
its answer's status."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests._http import running

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "t", "version": "1"}}}


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    time.sleep(0.5)  # access-log lines are written in batches, at most 0.25 s late
    return [json.loads(line) for rec in caplog.records if rec.name == "skillexec.http"
            for line in rec.getMessage().splitlines()]


def test_mcp_and_websocket_lines_name_the_principal(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="skillexec.http")
    with running(tmp_path) as srv:
        key = srv.key("runner", name="flooder")
        with srv.client(key) as c:
            r = c.post("/mcp", json=INITIALIZE, headers={
                "Accept": "application/json, text/event-stream", "X-Request-ID": "mcp-1"})
            assert r.status_code == 200, r.text
        url = srv.base_url.replace("http", "ws") + "/api/skills/ws"

        async def ping(query: str) -> None:
            async with websockets.connect(url + query, additional_headers={
                    "X-Request-ID": "ws-" + query[-3:]}) as ws:
                await ws.send('{"type": "ping"}')
                await ws.recv()

        asyncio.run(ping(f"?api_key={key}"))
        with pytest.raises(websockets.InvalidStatus):
            asyncio.run(ping("?api_key=sk_000000000000_bad"))
        lines = {line["request_id"]: line for line in _lines(caplog)}
    assert (lines["mcp-1"]["path"], lines["mcp-1"]["status"], lines["mcp-1"]["principal"]) == (
        "/mcp", 200, "flooder")
    accepted = lines["ws-" + key[-3:]]
    assert (accepted["path"], accepted["status"], accepted["principal"]) == (
        "/api/skills/ws", 101, "flooder")
    refused = lines["ws-bad"]
    assert (refused["status"], refused["principal"]) == (401, None)


def test_a_server_without_keys_names_local(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="skillexec.http")
    with running(tmp_path, insecure=True) as srv, srv.client() as c:
        r = c.post("/mcp", json=INITIALIZE, headers={
            "Accept": "application/json, text/event-stream", "X-Request-ID": "mcp-open"})
        assert r.status_code == 200, r.text
        lines = {line["request_id"]: line for line in _lines(caplog)}
    assert lines["mcp-open"]["principal"] == "local"
