"""``skillexec artifacts list | get | prune``."""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.table import Table

from skillexec.cli import options as opt
from skillexec.cli.output import print_table
from skillexec.cli.render import make_console
from skillexec.cli.safe_text import cell, for_terminal, json_text, safe_line

if TYPE_CHECKING:  # imported where used: `--help` must not pay for them
    from skillexec.artifacts import ArtifactManager, PruneReport
    from skillexec.storage.store import ArtifactRecord, TaskStore

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="List, read and expire stored artifacts.")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not m:
        opt.fail(f"{text!r} is not an age: use e.g. 30d, 12h, 90m")
    return float(m.group(1)) * _UNITS[m.group(2) or "d"]


def _elsewhere(data_dir: Path | None, journal_url: str | None) -> str:
    """Why a record's file may be missing here: with a shared journal, it is another
    node's (artifacts are files in the data folder of the node that ran the task)."""
    cfg = opt.config(skills_dir=None, data_dir=data_dir, journal_url=journal_url)
    if not cfg.journal_is_shared:
        return ""
    return ("; the journal is shared, and an artifact's bytes stay in the data folder of "
            f"the node that ran its task, not this one's ({cfg.data_dir}): read it there, "
            "or give every node one --data-dir on a shared file system")


async def _manager(data_dir: Path | None,
                   journal_url: str | None) -> tuple[ArtifactManager, TaskStore]:
    cfg = opt.config(skills_dir=None, data_dir=data_dir, journal_url=journal_url)
    store = await opt.open_journal(cfg)
    from skillexec.artifacts import ArtifactManager
    return ArtifactManager(cfg.artifacts_dir, store, max_bytes=cfg.max_artifact_bytes,
                           codec=cfg.codec()), store


def _record(r: ArtifactRecord) -> dict[str, Any]:
    return {**r.ref.to_dict(), "task_id": r.task_id, "created_at": r.created_at}


@app.command("list")
def list_(task: Annotated[str | None, typer.Option(help="Only this task's artifacts.")] = None,
          limit: Annotated[int, typer.Option(min=1, help="Most recent first, at most.")] = 100,
          as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
          data_dir: opt.DataDir = None,
          journal_url: opt.JournalUrl = None) -> None:
    """The stored artifacts, newest first."""
    async def go() -> list[ArtifactRecord]:
        _, store = await _manager(data_dir, journal_url)
        try:  # the journal sorts and cuts: a listing costs what it shows, not the table
            return await store.list_artifacts(task_id=task, limit=limit)
        finally:
            await store.close()

    records = opt.run_async(go())
    if as_json:
        typer.echo(json_text(orjson.dumps([_record(r) for r in records]).decode()))
        return
    table = Table(title=f"{len(records)} artifacts")
    for col in ("artifact id", "task id"):
        table.add_column(col, no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("mime", no_wrap=True)
    table.add_column("bytes", justify="right", no_wrap=True)
    table.add_column("created", no_wrap=True)
    for r in records:
        table.add_row(cell(r.ref.id), cell(r.task_id or "-"), cell(r.ref.name), cell(r.ref.mime),
                      str(r.ref.size),
                      dt.datetime.fromtimestamp(r.created_at).strftime("%m-%d %H:%M"),
                      )
    print_table(table, console=make_console())


@app.command()
def get(artifact_id: Annotated[str | None, typer.Argument(
            metavar="ID", help="An artifact id.", show_default=False)] = None,
        task: Annotated[str | None, typer.Option(
            help="Every artifact of this task, into the folder -o names, each at its path "
            "in the script's workspace.")] = None,
        output: Annotated[Path | None, typer.Option(
            "-o", "--output", help="Write the bytes to this file (default: stdout); with "
            "--task, the folder to write them into.")] = None,
        as_json: Annotated[bool, typer.Option(
            "--json", help="Print the artifact's record as JSON (its bytes go to -o only).")]
        = False,
        data_dir: opt.DataDir = None,
        journal_url: opt.JournalUrl = None) -> None:
    """Write an artifact's bytes to a file (or stdout), or a task's artifacts to a folder."""
    if task is not None:
        if artifact_id is not None:
            opt.fail(f"give an artifact id or --task {task}, not both")
        if output is None:
            opt.fail(f"--task {task}: name the folder to write its artifacts into with -o DIR")
        _get_task(task, output, as_json=as_json, data_dir=data_dir, journal_url=journal_url)
        return
    if artifact_id is None:
        opt.fail("give an artifact id (skillexec artifacts list shows them), or --task ID")
    if output is not None:
        _check_target(output)

    async def go() -> tuple[bytes, ArtifactRecord | None]:
        manager, store = await _manager(data_dir, journal_url)
        try:
            try:
                data = await manager.read(artifact_id)
            except OSError as exc:
                why = _elsewhere(data_dir, journal_url) \
                    if isinstance(exc, FileNotFoundError) else ""
                opt.fail(f"artifact {artifact_id}: its stored file cannot be read: "
                         f"{exc.strerror or exc}{why}")
            return data, await store.get_artifact(artifact_id)
        finally:
            await store.close()

    data, record = opt.run_async(go())
    if output is not None:
        try:
            output.write_bytes(data)
        except OSError as exc:
            opt.fail(f"-o {output}: cannot be written: {exc.strerror or exc}")
    elif not as_json:
        sys.stdout.buffer.write(for_terminal(data) if sys.stdout.isatty() else data)
    if as_json:
        body: dict[str, Any] = _record(record) if record is not None else {"id": artifact_id}
        body["written_to"] = str(output) if output is not None else None
        typer.echo(json_text(orjson.dumps(body).decode()))


def _get_task(task: str, out: Path, *, as_json: bool, data_dir: Path | None,
              journal_url: str | None) -> None:
    """Every artifact of ``task`` into the folder ``out`` (``write_back``'s rules: never
    outside it); exit 1 if one could not be written."""
    from skillexec.cli.artifacts_out import check_out_dir, write_back
    check_out_dir(out, option="-o")

    async def go() -> tuple[list[ArtifactRecord], tuple[list[str], list[str]]]:
        manager, store = await _manager(data_dir, journal_url)
        try:
            records = sorted((r for r in await store.artifacts_older_than(float("inf"))
                              if r.task_id == task), key=lambda r: r.created_at)
            return records, await write_back(out, [(r.ref.id, r.ref.name) for r in records],
                                             manager.read)
        finally:
            await store.close()

    records, (written, notes) = opt.run_async(go())
    if not records:
        opt.fail(f"task {task} has no artifacts here (skillexec artifacts list shows them)"
                 f"{_elsewhere(data_dir, journal_url)}")
    for note in notes:
        sys.stderr.write(f"note: {note}\n")
    if as_json:
        typer.echo(json_text(orjson.dumps({"task_id": task, "written": [
            str(out / name) for name in written]}).decode()))
    else:
        for name in written:
            typer.echo(safe_line(str(out / name)))
    if notes:
        raise typer.Exit(1)


def _check_target(output: Path) -> None:
    """Refuse a target that cannot be written before reading anything."""
    if output.is_dir():
        opt.fail(f"-o {output}: is a folder; name a file in it")
    parent = output.parent
    if not parent.is_dir():
        opt.fail(f"-o {output}: " + (f"{parent} is a file, not a folder" if parent.exists()
                                     else f"no such folder: {parent}"))


@app.command()
def prune(older_than: Annotated[str, typer.Option(help="Age, e.g. 30d, 12h.")] = "30d",
          data_dir: opt.DataDir = None,
          journal_url: opt.JournalUrl = None) -> None:
    """Delete artifacts older than an age; files still referenced elsewhere stay."""
    age_s = parse_age(older_than)

    async def go() -> PruneReport:
        manager, store = await _manager(data_dir, journal_url)
        try:
            return await manager.prune(older_than_s=age_s)
        finally:
            await store.close()

    r = opt.run_async(go())
    make_console().print(f"forgot {r.records} artifact records; deleted {r.files} files "
                         f"({r.bytes} bytes)")
