"""``skillexec metrics serve | show``: an engine's Prometheus metrics.

``serve`` starts an engine on the data directory (it recovers and runs what the journal
holds, like any engine) and exposes its registry over HTTP with prometheus_client's server,
at ``/metrics``, until interrupted. ``show`` prints the exposition once.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from skillexec.cli import options as opt

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Prometheus metrics of an engine.")


@app.command()
def serve(
    port: Annotated[int, typer.Option(min=0, max=65535, help="0: any free port.")] = 9464,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    duration: Annotated[float | None, typer.Option(
        hidden=True, help="Stop after this many seconds (tests).")] = None,
    skills_dir: opt.SkillsDir = None,
    data_dir: opt.DataDir = None,
) -> None:
    """Run an engine on the data directory and serve its metrics at /metrics."""
    from prometheus_client import start_http_server

    async def go() -> None:
        engine = opt.engine(skills_dir=skills_dir, data_dir=data_dir)
        async with engine:
            try:
                server, thread = start_http_server(port, addr=host,
                                                   registry=engine.monitor.registry)
            except OSError as exc:
                opt.fail(f"cannot listen on {host}:{port}: {exc}")
            bound = server.server_port
            sys.stderr.write(f"skillexec: serving metrics at http://{host}:{bound}/metrics\n")
            sys.stderr.flush()
            try:
                if duration is None:
                    while True:
                        await asyncio.sleep(3600)
                else:
                    await asyncio.sleep(duration)
            finally:
                server.shutdown()
                server.server_close()
                thread.join(5)

    opt.run_async(go())


@app.command()
def show(skills_dir: opt.SkillsDir = None, data_dir: opt.DataDir = None) -> None:
    """Print the Prometheus exposition of a fresh engine on the data directory once."""

    async def go() -> str:
        engine = opt.engine(skills_dir=skills_dir, data_dir=data_dir)
        async with engine:
            return engine.monitor.prometheus_text()

    sys.stdout.write(opt.run_async(go()))
