"""The server's own tools refuse an argument their schema does not name (as its
``additionalProperties: false`` says), naming it and the one meant: a model's ``arguments``
for ``run_skill_script``'s ``args`` ran the script with no arguments and the default
timeout, and answered success."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from skillexec.mcp.server import McpServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.mark.parametrize(("tool", "args", "says"), [
    ("run_skill_script", {"skill": "wc", "script": "scripts/count.py",
                          "arguments": ["counts.json"]},
     "run_skill_script: unknown argument 'arguments' (did you mean 'args'?); its arguments "
     "are skill, script, args, files, session, stdin, env, timeout_s."),
    ("run_skill_script", {"skill": "wc", "script": "scripts/count.py", "argv": ["x"],
                          "timeout": 1},
     "run_skill_script: unknown arguments 'argv' (did you mean 'args'?), 'timeout' (did "
     "you mean 'timeout_s'?); its arguments are skill, script, args, files, session, "
     "stdin, env, timeout_s."),
    ("skill_start", {"skill": "text.echo", "params": {"text": "hi"}},
     "skill_start: unknown argument 'params' (did you mean 'arguments'?); its arguments "
     "are skill, arguments."),
    ("skill_result", {"call_id": "x", "wait": 5},
     "skill_result: unknown argument 'wait' (did you mean 'wait_s'?); its arguments are "
     "call_id, wait_s."),
    ("session_create", {"ttl": 60},
     "session_create: unknown argument 'ttl' (did you mean 'ttl_s'?); its arguments are "
     "ttl_s."),
])
async def test_an_unknown_argument_is_refused_naming_the_one_meant(
        served: McpServer, tool: str, args: dict[str, Any], says: str) -> None:
    async with Client(served.server, mode="legacy") as client:  # type: ignore[arg-type]
        res = await client.call_tool(tool, args)
    assert res.is_error, res
    assert res.content[0].text == says  # type: ignore[union-attr]
    assert await served.engine.tasks() == []  # refused before anything ran


async def test_the_arguments_a_tool_names_still_run(served: McpServer) -> None:
    async with Client(served.server, mode="legacy") as client:  # type: ignore[arg-type]
        res = await client.call_tool("skill_start", {"skill": "text.echo",
                                                     "arguments": {"text": "hi"}})
        assert not res.is_error, res.content
        call_id = res.structured_content["call_id"]  # type: ignore[index]
        done = await client.call_tool("skill_result", {"call_id": call_id, "wait_s": 30})
    assert done.structured_content == {"echo": "hi"}
