"""MCP: a tool call's round trip over stdio, skillexec vs the SDK's own server, and the
throughput of concurrent tool calls over Streamable HTTP.

    .venv/bin/python bench/bench_mcp.py [--quick]

stdio: the SDK's client calls (a) ``skillexec mcp`` serving an inline no-op skill (the whole
pipeline: journal, admission, validation, the result as structured content) and (b) an empty
tool on the SDK's high-level ``MCPServer`` — both real subprocesses, one call after another,
in alternating rounds, in each protocol era. Target (issue #17): skillexec's p50 at most
1.5x the SDK server's.

HTTP: uvicorn on 127.0.0.1 serving ``http_app`` (no keys), C clients calling the no-op
skill concurrently: calls/s. (The HTTP API's own figure is bench/bench_http.py's.)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from skillexec import SkillExecutionEngine
from skillexec.mcp.http import http_app
from skillexec.mcp.server import McpServer

_SDK_SERVER = '''
from mcp.server import MCPServer
server = MCPServer("empty")

@server.tool()
def noop() -> dict:
    """Does nothing."""
    return {}

server.run("stdio")
'''


def _skills(root: Path) -> Path:
    d = root / "skills" / "noop"
    d.mkdir(parents=True)
    (d / "skill.json").write_text(json.dumps({
        "id": "noop", "version": "1.0.0", "entry_point": "main.py:execute",
        "execution": {"isolation": "inline"}, "description": "Does nothing.",
        "parameters_schema": {"type": "object"}}))
    (d / "main.py").write_text("def execute(data):\n    return {}\n")
    return root / "skills"


# The no-op runs inline (in the server's process), as a first-party skill would.
_TRUST = {"SKILLEXEC_ISOLATION__TRUSTED_SKILLS": '["noop"]'}


def _q(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s) * 1e3, s[min(len(s) - 1, int(len(s) * 0.95))] * 1e3


async def _round(params: StdioServerParameters, tool: str, mode: str, n: int,
                 out: list[float]) -> None:
    with open(os.devnull, "w") as devnull:
        async with Client(stdio_client(params, errlog=devnull), mode=mode) as c:  # type: ignore[arg-type]
            for _ in range(20):  # warm
                await c.call_tool(tool, {})
            for _ in range(n):
                t0 = time.perf_counter()
                res = await c.call_tool(tool, {})
                out.append(time.perf_counter() - t0)
                assert not res.is_error, res.content


async def stdio(root: Path, *, rounds: int, n: int) -> None:
    skills = _skills(root)
    env = {"PATH": os.environ["PATH"], "HOME": str(root), **_TRUST}
    ours = StdioServerParameters(command=sys.executable, args=[
        "-m", "skillexec", "mcp", "--skills-dir", str(skills), "--data-dir",
        str(root / "data")], env=env, cwd=str(root))
    (root / "sdk_server.py").write_text(_SDK_SERVER)
    sdk = StdioServerParameters(command=sys.executable, args=[str(root / "sdk_server.py")],
                                env=env, cwd=str(root))
    for mode in ("2026-07-28", "legacy"):
        a: list[float] = []
        b: list[float] = []
        for _ in range(rounds):
            await _round(ours, "noop", mode, n, a)
            await _round(sdk, "noop", mode, n, b)
        (pa, qa), (pb, qb) = _q(a), _q(b)
        print(f"stdio {mode:>10}: skillexec p50 {pa:.2f} ms p95 {qa:.2f} ms | SDK MCPServer "
              f"p50 {pb:.2f} ms p95 {qb:.2f} ms | ratio p50 {pa / pb:.2f}x "
              f"({len(a)} calls each)")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _throughput(app: object, label: str, *, clients: int, per_client: int) -> None:
    port = _port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,  # type: ignore[arg-type]
                                           log_level="warning"))
    url = f"http://127.0.0.1:{port}/mcp"
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        while not server.started:
            await anyio.sleep(0.02)
        for mode in ("2026-07-28", "legacy"):
            done = 0

            async def one(mode: str = mode) -> None:
                nonlocal done
                async with Client(streamable_http_client(  # type: ignore[arg-type]
                        url, http_client=create_mcp_http_client()), mode=mode) as c:
                    for _ in range(per_client):
                        res = await c.call_tool("noop", {})
                        assert not res.is_error
                        done += 1

            t0 = time.perf_counter()
            async with anyio.create_task_group() as inner:
                for _ in range(clients):
                    inner.start_soon(one)
            wall = time.perf_counter() - t0
            print(f"http  {mode:>10}: {label:>13}: {clients} clients x {per_client} calls: "
                  f"{done / wall:.0f} calls/s (clients in the same process)")
        server.should_exit = True


async def http(root: Path, *, clients: int, per_client: int) -> None:
    from mcp.server import MCPServer

    sdk = MCPServer("empty")

    @sdk.tool()
    def noop() -> dict[str, object]:
        """Does nothing."""
        return {}

    async with SkillExecutionEngine(skills_dir=root / "skills",
                                    data_dir=root / "http-data") as engine:
        await _throughput(http_app(McpServer(engine), authenticate=None), "skillexec",
                          clients=clients, per_client=per_client)
    await _throughput(sdk.streamable_http_app(), "SDK MCPServer", clients=clients,
                      per_client=per_client)


async def main() -> None:
    os.environ.update(_TRUST)
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rounds, n = (2, 100) if args.quick else (4, 300)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        await stdio(root, rounds=rounds, n=n)
        await http(root, clients=8, per_client=50 if args.quick else 200)


if __name__ == "__main__":
    anyio.run(main)
