"""SIGTERM and Ctrl-C stop a ``skillexec mcp`` whose stdin is still open (a supervisor, a
proxy that signals before it closes the pipe, a user in a terminal): it exits 130 at once,
its calls ended ``cancelled`` in the journal, not when stdin next yields a line."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests._mcp_stdio import StdioServer

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_idle_server_stops_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    server = StdioServer(tmp_path)
    try:
        server.call("text_echo", {"text": "hi"})
        server.proc.send_signal(sig)
        rc = server.proc.wait(timeout=15)
    finally:
        server.kill()
    assert rc == 130
    assert "skillexec: interrupted" in server.stderr()


def test_a_signal_cancels_and_journals_the_calls_running(tmp_path: Path) -> None:
    server = StdioServer(tmp_path)
    try:
        server.request("tools/call", {"name": "slow", "arguments": {"steps": 600,
                                                                     "delay": 0.1}})
        started = server.call("skill_start", {"skill": "slow",
                                              "arguments": {"steps": 600, "delay": 0.1}})
        assert not started.get("isError"), started
        deadline = time.monotonic() + 30
        while list(server.statuses().values()).count("running") < 2:
            assert time.monotonic() < deadline, server.statuses()
            time.sleep(0.1)
        server.proc.send_signal(signal.SIGTERM)
        began = time.monotonic()
        rc = server.proc.wait(timeout=20)
        took = time.monotonic() - began
    finally:
        server.kill()
    assert rc == 130
    assert took < 10  # the interrupt grace (2 s) and the kill, not the calls' minute
    assert sorted(server.statuses().values()) == ["cancelled", "cancelled"]
