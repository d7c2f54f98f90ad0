"""``skillexec doctor``: the isolation this machine can give, the journal, and (with a
broker) the distributed mode's services."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from skillexec.cli import options as opt
from skillexec.cli import worker_cmd
from skillexec.cli.output import print_table
from skillexec.cli.render import make_console
from skillexec.cli.safe_text import cell

if TYPE_CHECKING:
    from skillexec.config import EngineConfig

__all__ = ["doctor"]


def doctor(as_json: Annotated[bool, typer.Option("--json")] = False,
           data_dir: opt.DataDir = None, journal_url: opt.JournalUrl = None,
           broker_url: worker_cmd.BrokerUrl = None,
           database_url: worker_cmd.DatabaseUrl = None) -> None:
    """What isolation this machine can give, mechanism by mechanism; and the journal.

    With a PostgreSQL journal: whether its database answers and is migrated; with a broker
    (distributed mode): whether the broker and the claims' database answer; with
    --database-url alone, that database (exit 1 when one of them cannot be reached).
    """
    from rich.table import Table

    from skillexec.runtime.capabilities import doctor_rows

    rows = doctor_rows()
    cfg = opt.config(skills_dir=None, data_dir=data_dir, journal_url=journal_url)
    journal_ok = _journal_rows(rows, cfg)
    distributed = worker_cmd.doctor_rows(worker_cmd.distributed_config(
        cfg, broker_url=broker_url, database_url=database_url),
        database_given=database_url is not None)
    rows += distributed
    if as_json:
        sys.stdout.write(orjson.dumps(rows).decode() + "\n")
    else:
        console = make_console()
        for section, title in (("kernel", "mechanisms"), ("level", "isolation levels"),
                               ("journal", "journal"), ("distributed", "distributed mode")):
            table = Table(title=title, expand=True)
            table.add_column("", no_wrap=True)
            table.add_column("name", no_wrap=True)
            table.add_column("what it gives here", overflow="fold", ratio=1)
            for r in rows:
                if r["section"] == section:
                    mark = "[green]yes[/green]" if r["available"] else "[red]no[/red]"
                    table.add_row(mark, cell(str(r["mechanism"])), cell(str(r["detail"])))
            if table.row_count:
                print_table(table, console=console)
    if not journal_ok or not all(r["available"] for r in distributed):
        raise typer.Exit(1)


def _journal_rows(rows: list[dict[str, object]], cfg: EngineConfig) -> bool:
    """The journal's rows (a PostgreSQL one is checked); False when its database is not
    reachable."""
    if not cfg.journal_is_shared:
        rows.append({"section": "journal", "mechanism": "SQLite file", "available": True,
                     "detail": cfg.journal_where})
        return True
    from skillexec.storage.postgres_schema import health

    assert cfg.journal.url is not None
    checks = opt.run_async(health(cfg.journal.url,
                                  connect_timeout_s=cfg.journal.connect_timeout_s))
    rows.extend({"section": "journal", "mechanism": name, "available": ok, "detail": detail}
                for name, ok, detail in checks)
    return checks[0][1]
