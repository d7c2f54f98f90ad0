"""``skillexec serve`` answers before the MCP SDK is loaded: the SDK was a third of its
start-up (imported by the app module), and only ``/mcp`` needs it; it is loaded in the
background once the service listens, and ``/mcp`` works as before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests._http import running


def test_the_service_modules_do_not_import_the_mcp_sdk() -> None:
    code = ("import sys, skillexec.cli.app, skillexec.service.server\n"
            "from skillexec.cli import serve_cmd\n"
            "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')"
            " or m.startswith('mcp_types') or m.startswith('skillexec.mcp')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_mcp_answers_once_loaded_and_the_service_at_once(tmp_path: Path) -> None:
    with running(tmp_path) as srv:
        with srv.client() as c:
            assert c.get("/health").status_code == 200
        key = srv.key("runner")
        body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}
        headers = {"Accept": "application/json, text/event-stream", "X-API-Key": key}
        with httpx.Client(base_url=srv.base_url, timeout=60) as c:
            r = c.post("/mcp", json=body, headers=headers)
            assert r.status_code == 200, r.text
            assert '"serverInfo"' in r.text
            assert c.post("/mcp", json=body, headers={**headers, "X-API-Key": "bad"}
                          ).status_code == 401
