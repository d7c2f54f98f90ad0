"""/mcp answers where /api does: it answered 421 "Invalid Host header" to every client that
did not call it by a localhost name (``skillexec serve --host 0.0.0.0`` reached by its
address, or any service behind a name), because the SDK's DNS-rebinding guard was set up for
127.0.0.1 whatever the service listened on. With keys, the keys guard it (a page that
rebinds a name has none to send); under --insecure-no-auth the guard stays, admitting the
loopback names, the address the service listens on and the configured CORS origins."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests._mcp import write_skills
from tests._served import make_key, serving

pytestmark = pytest.mark.timeout(300)

HELLO = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "t", "version": "1"}}}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _mcp(base: str, **headers: str) -> int:
    r = httpx.post(base + "/mcp", json=HELLO, headers={**ACCEPT, **headers}, timeout=60)
    return r.status_code


def _sdk_session(url: str, headers: dict[str, str]) -> list[str]:
    """A whole SDK client session (the tools it lists, then a call) with these headers."""
    async def go() -> list[str]:
        transport = streamable_http_client(url, http_client=create_mcp_http_client(
            headers=headers))
        async with Client(transport, mode="legacy") as c:  # type: ignore[arg-type]
            tools = [t.name for t in (await c.list_tools()).tools]
            result: Any = await c.call_tool("text_echo", {"text": "hi"})
            assert not result.is_error, result
            assert result.structured_content == {"echo": "hi"}, result
            return tools

    return asyncio.run(go())


def test_a_keyed_service_on_every_address_answers_mcp_by_any_name(tmp_path: Path) -> None:
    write_skills(tmp_path / "skills")
    with serving(tmp_path, "--host", "0.0.0.0") as srv:
        key = make_key(srv.data_dir, "runner")["key"]
        local = f"http://127.0.0.1:{srv.port}"
        for host in (f"192.0.2.2:{srv.port}", "skills.internal.example", f"10.0.0.5:{srv.port}"):
            got = httpx.get(local + "/api/whoami", headers={"X-API-Key": key, "Host": host})
            assert got.status_code == 200, got.text
            assert _mcp(local, **{"X-API-Key": key, "Host": host}) == 200, host
        # the whole SDK client, calling the service by a name that is not localhost
        tools = _sdk_session(local + "/mcp", {"X-API-Key": key,
                                              "Host": f"skills.internal.example:{srv.port}"})
        assert "text_echo" in tools
        # the keys still guard it, whatever the name
        assert _mcp(local, Host="skills.internal.example") == 401
        assert _mcp(local, **{"X-API-Key": key[:-2] + "xx", "Host": "a.example"}) == 401


def test_without_keys_mcp_still_refuses_a_rebound_name(tmp_path: Path) -> None:
    write_skills(tmp_path / "skills")
    cors = {"SKILLEXEC_SERVICE__CORS_ORIGINS": json.dumps(["https://app.example"])}
    # 127.0.0.2: a loopback address of its own, so that "the address it listens on" is not
    # one of the loopback names the guard admits anyway
    with serving(tmp_path, "--host", "127.0.0.2", "--insecure-no-auth", env=cors) as srv:
        base, port = srv.base_url, srv.port
        assert _mcp(base, Host=f"attacker.example:{port}") == 421
        assert _mcp(base, Host="attacker.example") == 421
        assert _mcp(base, Host=f"127.0.0.2:{port}") == 200  # the address it listens on
        assert _mcp(base, Host=f"localhost:{port}") == 200
        assert _mcp(base, Host=f"127.0.0.2:{port}", Origin="http://attacker.example") == 403
        assert _mcp(base, Host=f"127.0.0.2:{port}", Origin="https://app.example") == 200
        assert _mcp(base, Host=f"127.0.0.2:{port}", Origin=f"http://127.0.0.2:{port}") == 200
        assert "text_echo" in _sdk_session(base + "/mcp", {})
