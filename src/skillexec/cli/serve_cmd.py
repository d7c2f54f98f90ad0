"""``skillexec serve``: the HTTP service (API, event streams, dashboard, /metrics)."""

from __future__ import annotations

from typing import Annotated

import typer

from skillexec.cli import options as opt

__all__ = ["serve"]

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="0: any free port.")] = 8000,
    insecure_no_auth: Annotated[bool, typer.Option(
        "--insecure-no-auth", help="No API keys: every request is admin. Local development "
        "only.")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn's own log level.")] = "warning",
    access_log: Annotated[bool, typer.Option(
        "--access-log/--no-access-log", help="One JSON line per request on stderr.")] = True,
    skills_dir: opt.SkillsDir = None,
    data_dir: opt.DataDir = None,
    journal_url: opt.JournalUrl = None,
) -> None:
    """Serve the HTTP API of one engine until SIGTERM or Ctrl-C (which drain it first)."""
    import signal
    import sqlite3

    from skillexec.service.server import bind
    from skillexec.service.server import serve as run_server

    if log_level.lower() not in _LOG_LEVELS:  # uvicorn's own check is a KeyError
        opt.fail(f"--log-level {log_level!r}: use one of {', '.join(_LOG_LEVELS)}")
    engine = opt.engine(skills_dir=skills_dir, data_dir=data_dir, journal_url=journal_url)
    try:
        sock = bind(host, port)
    except OSError as exc:
        opt.fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    # uvicorn installs its own handlers for a graceful stop; main()'s would interrupt it
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    try:
        run_server(engine, sock, insecure_no_auth=insecure_no_auth,
                   log_level=log_level.lower(), access_log=access_log,
                   notes=opt.no_skills_note(engine.config, serves="it serves"))
    except (OSError, sqlite3.Error) as exc:  # the engine's start, before uvicorn's
        opt.fail(opt.cannot_open(engine.config, exc))
    finally:
        sock.close()
