"""``skillexec audit verify | show``: the audit log of this data directory.

``verify`` exits 0 and prints the count when the chain and its signed checkpoints agree;
exit 1 names the first bad record and what is wrong with it.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.table import Table

from skillexec.cli import options as opt
from skillexec.cli.artifacts_cmd import parse_age
from skillexec.cli.output import print_table
from skillexec.cli.render import make_console
from skillexec.cli.safe_text import cell, json_text

if TYPE_CHECKING:  # imported where used: `--help` must not pay for them
    from skillexec.security.audit import AuditLog
    from skillexec.storage.store import TaskStore

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Verify and read the audit log.")


def _audit(data_dir: Any, journal_url: str | None) -> tuple[Any, Any]:
    """The settings, and the folder of this data directory's signed checkpoints (a shared
    journal's chain is checked against the checkpoints this node signed)."""
    cfg = opt.config(skills_dir=None, data_dir=data_dir, journal_url=journal_url)
    return cfg, cfg.data_dir / "audit"


async def _open(cfg: Any, directory: Any) -> tuple[AuditLog, TaskStore]:
    from skillexec.security.audit import AuditLog
    store = await opt.open_journal(cfg)
    return AuditLog(store, directory=directory, journal=cfg.journal_identity), store


@app.command()
def verify(as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
           = False, data_dir: opt.DataDir = None,
           journal_url: opt.JournalUrl = None) -> None:
    """Check every record's hash chain and every signed checkpoint."""
    cfg, directory = _audit(data_dir, journal_url)

    async def go() -> Any:
        from skillexec.errors import SkillExecError
        audit, store = await _open(cfg, directory)
        try:
            return await audit.verify()
        except SkillExecError as exc:
            opt.fail(str(exc))
        finally:
            await store.close()

    report = opt.run_async(go())
    if as_json:
        typer.echo(orjson.dumps(report.to_dict()).decode())
    if not report.ok:
        if not as_json:
            opt.fail(f"audit log damaged at record {report.seq} ({report.kind}): "
                     f"{report.problem}", 1)
        raise typer.Exit(1)
    if not as_json:
        typer.echo(f"audit log intact: {report.count} records, {report.checkpoints} signed "
                   "checkpoints")


@app.command()
def show(since: Annotated[str | None, typer.Option(
             help="Only records this recent, e.g. 1h, 30m, 7d.")] = None,
         limit: Annotated[int, typer.Option(min=1, help="At most this many (oldest first).")]
         = 1000,
         as_json: Annotated[bool, typer.Option("--json", help="One JSON record a line.")]
         = False, data_dir: opt.DataDir = None,
         journal_url: opt.JournalUrl = None) -> None:
    """The audit records, oldest first."""
    cfg, directory = _audit(data_dir, journal_url)
    # longer ago than 1970: every record
    since_s = None if since is None else max(0.0, time.time() - parse_age(since))

    async def go() -> list[dict[str, Any]]:
        audit, store = await _open(cfg, directory)
        try:
            return await audit.read(since=since_s, limit=limit)
        finally:
            await store.close()

    records = opt.run_async(go())
    if as_json:
        for r in records:
            typer.echo(json_text(orjson.dumps(r).decode()))
        return
    table = Table(title=f"{len(records)} audit records")
    for col in ("seq", "time", "principal", "action", "target", "outcome"):
        table.add_column(col, no_wrap=True)
    table.add_column("details", overflow="fold")
    for r in records:
        at = dt.datetime.fromtimestamp(r["ts"] / 1e6).strftime("%m-%d %H:%M:%S")
        table.add_row(str(r["seq"]), at, cell(r["principal"] or "-"), cell(r["action"]),
                      cell(r["target"] or "-"), cell(r["outcome"]),
                      cell(orjson.dumps(r["details"]).decode() if r["details"] else ""))
    print_table(table, console=make_console())
