"""``skillexec report ...``: reports read from the journal."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Reports from the journal: past runs included.")
