"""``skill_start`` of a call the engine refuses (invalid parameters) answers as the direct
tool call does, an isError naming the violations: it answered success with ``status:
rejected``, and the violations came only from a later ``skill_result``."""

from __future__ import annotations

import pytest
from mcp import Client

from skillexec.mcp.server import McpServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
async def test_a_refused_start_is_an_error_with_the_violations(served: McpServer,
                                                               mode: str) -> None:
    async with Client(served.server, mode=mode) as client:  # type: ignore[arg-type]
        direct = await client.call_tool("text_echo", {"text": "a", "repeat": 0})
        started = await client.call_tool("skill_start", {
            "skill": "text.echo", "arguments": {"text": "a", "repeat": 0}})
    assert direct.is_error and started.is_error
    text = started.content[0].text  # type: ignore[union-attr]
    assert text == direct.content[0].text  # type: ignore[union-attr]
    assert "rejected (parameter_error/invalid_parameters)" in text and "/repeat" in text
    assert started.meta is not None and started.meta["skillexec/status"] == "rejected"
