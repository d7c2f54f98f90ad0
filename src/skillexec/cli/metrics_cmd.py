"""``skillexec metrics serve | show``: the Prometheus metrics of a data directory.

Both read the data directory's journal (:class:`JournalCollector`): what every engine on it
did, past runs included — not an idle engine of their own. ``serve`` exposes them over HTTP
with prometheus_client's server at ``/metrics`` until interrupted; ``show`` prints them once.
An engine that runs in the same process adds its live metrics to the same registry
(:func:`skillexec.monitoring.journal_metrics.metrics_registry`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from skillexec.cli import options as opt

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Prometheus metrics of a data directory.")


@app.command()
def serve(
    port: Annotated[int, typer.Option(min=0, max=65535, help="0: any free port.")] = 9464,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    duration: Annotated[float | None, typer.Option(
        hidden=True, help="Stop after this many seconds (tests).")] = None,
    data_dir: opt.DataDir = None,
    journal_url: opt.JournalUrl = None,
) -> None:
    """Serve the journal's metrics (every run on the data directory) at /metrics."""
    from prometheus_client import start_http_server

    from skillexec.monitoring.journal_metrics import metrics_registry

    cfg = opt.config(skills_dir=None, data_dir=data_dir, journal_url=journal_url)
    registry = metrics_registry(journal=cfg.journal_location)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        opt.fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    if not cfg.journal_is_shared and not Path(cfg.journal_location).exists():
        sys.stderr.write(f"skillexec: no journal at {cfg.journal_where} yet: serving its "
                         "metrics once something has run there\n")
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address, as a URL has it
    sys.stderr.write(f"skillexec: serving metrics at http://{shown}:{server.server_port}"
                     "/metrics\n")
    sys.stderr.flush()
    try:
        if duration is None:
            while True:
                time.sleep(3600)
        else:
            time.sleep(duration)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@app.command()
def show(data_dir: opt.DataDir = None,
         journal_url: opt.JournalUrl = None) -> None:
    """Print the journal's metrics (every run on the data directory) once."""
    from prometheus_client import generate_latest

    from skillexec.monitoring.journal_metrics import metrics_registry

    cfg = opt.config(skills_dir=None, data_dir=data_dir, journal_url=journal_url)
    if not cfg.journal_is_shared and not Path(cfg.journal_location).exists():
        opt.fail(opt.no_journal(cfg))
    sys.stdout.write(generate_latest(metrics_registry(journal=cfg.journal_location)).decode())
