"""``skill_result`` only waits: when its ``wait_s`` runs out (or the client gives up on the
request) the call it waits for keeps running, for a later ``skill_result`` to return."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from skillexec.mcp.server import McpServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_a_wait_that_runs_out_leaves_the_call_running(served: McpServer,
                                                            mode: str) -> None:
    async with Client(served.server, mode=mode) as client:  # type: ignore[arg-type]
        start = await client.call_tool("skill_start", {
            "skill": "slow", "arguments": {"steps": 6, "delay": 0.5}})
        call_id = start.structured_content["call_id"]  # type: ignore[index]
        waited = await client.call_tool("skill_result", {"call_id": call_id, "wait_s": 0.5})
        assert not waited.is_error
        assert waited.structured_content == {"call_id": call_id, "status": "running",
                                             "done": False}
        status = await client.call_tool("skill_status", {"call_id": call_id})
        assert status.structured_content["status"] == "running"  # type: ignore[index]
        # a client that stops waiting for skill_result itself cancels nothing either
        with anyio.move_on_after(0.5):
            await client.call_tool("skill_result", {"call_id": call_id, "wait_s": 30})
        status = await client.call_tool("skill_status", {"call_id": call_id})
        assert status.structured_content["status"] == "running"  # type: ignore[index]
        done = await client.call_tool("skill_result", {"call_id": call_id, "wait_s": 30})
    assert not done.is_error, done.content
    assert done.structured_content == {"steps": 6}
