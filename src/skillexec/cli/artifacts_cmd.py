"""``skillexec artifacts get | prune``."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from skillexec.artifacts import ArtifactManager, PruneReport
from skillexec.cli import options as opt
from skillexec.cli.render import make_console
from skillexec.cli.safe_text import for_terminal
from skillexec.storage.sqlite import SQLiteStore

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Read and expire stored artifacts.")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not m:
        opt.fail(f"{text!r} is not an age: use e.g. 30d, 12h, 90m")
    return float(m.group(1)) * _UNITS[m.group(2) or "d"]


async def _manager(data_dir: Path | None) -> tuple[ArtifactManager, SQLiteStore]:
    cfg = opt.config(skills_dir=None, data_dir=data_dir)
    if not cfg.journal_path.exists():
        opt.fail(f"no journal at {cfg.journal_path}")
    store = SQLiteStore(cfg.journal_path)
    await store.open()
    return ArtifactManager(cfg.artifacts_dir, store, max_bytes=cfg.max_artifact_bytes), store


@app.command()
def get(artifact_id: str,
        output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
        data_dir: opt.DataDir = None) -> None:
    """Write an artifact's bytes to a file (or stdout)."""
    async def go() -> bytes:
        manager, store = await _manager(data_dir)
        try:
            return await manager.read(artifact_id)
        finally:
            await store.close()

    data = opt.run_async(go())
    if output is None:
        sys.stdout.buffer.write(for_terminal(data) if sys.stdout.isatty() else data)
    else:
        output.write_bytes(data)


@app.command()
def prune(older_than: Annotated[str, typer.Option(help="Age, e.g. 30d, 12h.")] = "30d",
          data_dir: opt.DataDir = None) -> None:
    """Delete artifacts older than an age; files still referenced elsewhere stay."""
    age_s = parse_age(older_than)

    async def go() -> PruneReport:
        manager, store = await _manager(data_dir)
        try:
            return await manager.prune(older_than_s=age_s)
        finally:
            await store.close()

    r = opt.run_async(go())
    make_console().print(f"forgot {r.records} artifact records; deleted {r.files} files "
                         f"({r.bytes} bytes)")
