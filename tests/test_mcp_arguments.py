"""The server's own tools as a client that sends the wrong thing meets them: each argument
of the wrong type is named (was Python's "could not convert string to float"), and a skill
that is no tool says what it offers (skill_start said there was no such skill)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client, MCPError

from skillexec.mcp.server import McpServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def _text(served: McpServer, tool: str, args: dict[str, Any]) -> str:
    async with Client(served.server, mode="legacy") as client:  # type: ignore[arg-type]
        res = await client.call_tool(tool, args)
    assert res.is_error, res
    return str(res.content[0].text)  # type: ignore[union-attr]


@pytest.mark.parametrize(("tool", "args", "says"), [
    ("session_create", {"ttl_s": "abc"},
     "session_create: 'ttl_s' must be a number of seconds, not 'abc'."),
    ("session_create", {"ttl_s": True},
     "session_create: 'ttl_s' must be a number of seconds, not True."),
    ("run_skill_script", {"skill": "wc", "script": "scripts/count.py", "timeout_s": "soon"},
     "run_skill_script: 'timeout_s' must be a number of seconds, not 'soon'."),
    # 0 was taken for "not given" and ran with the default timeout
    ("run_skill_script", {"skill": "wc", "script": "scripts/count.py", "timeout_s": 0},
     "wc:scripts/count.py rejected (parameter_error/invalid_timeout): timeout must be a "
     "positive number of seconds (got 0.0)."),
    ("skill_start", {"skill": "wc"},
     "skill_start: 'wc' is not a tool: it has no entry to call (it offers 1 script); run "
     "its scripts with run_skill_script; its instructions are the prompt 'wc'."),
    ("skill_start", {"skill": "guide"},
     "skill_start: 'guide' is not a tool: it has no entry to call (it offers instructions "
     "only); its instructions are the prompt 'guide'."),
    ("skill_start", {"skill": "nope"}, "skill_start: no skill or tool named 'nope'."),
])
async def test_a_wrong_argument_is_named(served: McpServer, tool: str, args: dict[str, Any],
                                         says: str) -> None:
    assert await _text(served, tool, args) == says


async def test_skill_result_wait_s_and_a_call_by_a_skill_that_is_no_tool(
        served: McpServer) -> None:
    async with Client(served.server, mode="legacy") as client:  # type: ignore[arg-type]
        started = await client.call_tool("skill_start", {"skill": "text.echo",
                                                         "arguments": {"text": "a"}})
        call_id = started.structured_content["call_id"]  # type: ignore[index]
        bad = await client.call_tool("skill_result", {"call_id": call_id, "wait_s": "x"})
        assert bad.is_error and bad.content[0].text == (  # type: ignore[union-attr]
            "skill_result: 'wait_s' must be a number of seconds, not 'x'.")
        done = await client.call_tool("skill_result", {"call_id": call_id, "wait_s": 10})
        assert done.structured_content == {"echo": "a"}
        with pytest.raises(MCPError, match="'guide' is not a tool: it has no entry to call"):
            await client.call_tool("guide", {})
