"""/mcp spends the key's own token bucket, as every /api route does: a key ran as many skills
over /mcp as it liked, past service.rate_per_s and rate_burst."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests._http import running

SLOW = {"rate_per_s": 0.05, "rate_burst": 5}  # a token every 20 s: none comes back here
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _rpc(method: str, id_: int, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}


def test_mcp_requests_spend_the_keys_bucket(tmp_path: Path) -> None:
    with running(tmp_path, service=SLOW) as srv:
        key = srv.key("runner")
        headers = {**ACCEPT, "X-API-Key": key}
        hello = _rpc("initialize", 1, {"protocolVersion": "2025-06-18", "capabilities": {},
                                       "clientInfo": {"name": "t", "version": "1"}})

        async def flood() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=srv.base_url, timeout=30) as c:
                return list(await asyncio.gather(*(c.post("/mcp", headers=headers, json=hello)
                                                   for _ in range(12))))

        answers = asyncio.run(flood())
        codes = sorted(r.status_code for r in answers)
        assert codes == [200] * 5 + [429] * 7, codes
        refused = next(r for r in answers if r.status_code == 429)
        assert int(refused.headers["Retry-After"]) >= 1
        error = refused.json()["error"]  # a JSON-RPC error, as MCP clients read them
        assert refused.json()["jsonrpc"] == "2.0" and "too many requests" in error["message"]
        # The same bucket as /api: this key has none left there either.
        with srv.client(key) as c:
            assert c.get("/api/whoami").status_code == 429
        # Another key's bucket is its own.
        with srv.client(srv.key("viewer")) as c:
            assert c.get("/api/whoami").status_code == 200


def test_the_sdk_client_runs_skills_until_the_bucket_is_empty(tmp_path: Path) -> None:
    with running(tmp_path, service={"rate_per_s": 0.05, "rate_burst": 8}) as srv:
        key = srv.key("runner")

        async def calls() -> tuple[int, str]:
            ran = 0
            transport = streamable_http_client(
                srv.base_url + "/mcp",
                http_client=create_mcp_http_client(headers={"X-API-Key": key}))
            try:
                async with Client(transport, mode="legacy") as c:  # type: ignore[arg-type]
                    for i in range(20):
                        result = await c.call_tool("echo", {"text": f"n{i}"})
                        assert not result.is_error, result
                        ran += 1
            except BaseException as exc:  # the SDK's way to report the HTTP error
                return ran, repr(exc)
            return ran, ""

        ran, why = asyncio.run(calls())
        assert ran < 8, (ran, why)  # the session's own requests took tokens too
        assert "429" in why or "too many requests" in why.lower(), why
