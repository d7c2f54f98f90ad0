"""A client that closes stdin while a ``skill_start`` call runs: nobody can ask for that
call's result any more (its call_id lived in the connection), so ``skillexec mcp`` cancels
it, journals it ``cancelled`` and exits within a host's grace (the SDK's client waits 2 s,
then SIGTERMs, then SIGKILLs: a call left ``running`` in the journal)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests._mcp_stdio import StdioServer

pytestmark = pytest.mark.timeout(120)


def test_closing_stdin_cancels_the_calls_started_with_skill_start(tmp_path: Path) -> None:
    server = StdioServer(tmp_path)
    try:
        quick = server.call("skill_start", {"skill": "text.echo",
                                            "arguments": {"text": "hi"}})
        slow = server.call("skill_start", {"skill": "slow",
                                           "arguments": {"steps": 600, "delay": 0.1}})
        assert not slow.get("isError"), slow
        quick_id = quick["structuredContent"]["call_id"]
        slow_id = slow["structuredContent"]["call_id"]
        deadline = time.monotonic() + 30
        while server.statuses() != {quick_id: "succeeded", slow_id: "running"}:
            assert time.monotonic() < deadline, server.statuses()
            time.sleep(0.1)
        assert server.proc.stdin is not None
        server.proc.stdin.close()
        began = time.monotonic()
        rc = server.proc.wait(timeout=60)
        took = time.monotonic() - began
    finally:
        server.kill()
    assert rc == 0
    assert took < 5, took  # the call had a minute to go
    assert server.statuses() == {quick_id: "succeeded", slow_id: "cancelled"}
