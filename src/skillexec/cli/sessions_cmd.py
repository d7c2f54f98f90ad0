"""``skillexec sessions create | list | show ID | rm ID``: script sessions (DESIGN §3.5)."""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.table import Table

from skillexec.cli import options as opt
from skillexec.cli.output import print_table
from skillexec.cli.safe_text import cell, json_text
from skillexec.errors import SkillExecError

if TYPE_CHECKING:
    from pathlib import Path

    from skillexec.sessions import SessionStore

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="List, inspect and remove script sessions.")


def _store(data_dir: Path | None, skills_dir: Path | None = None) -> SessionStore:
    # A session holds no skill's files; --skills-dir is taken (and checked) so that a command
    # line copied from `script` works: refused, it left its error text in `SID=$(...)`.
    return opt.config(skills_dir=skills_dir, data_dir=data_dir).session_store()


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).isoformat(sep=" ", timespec="seconds")


def _json(value: object) -> None:
    sys.stdout.write(json_text(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()) + "\n")


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
          skills_dir: opt.SkillsDir = None, data_dir: opt.DataDir = None) -> None:
    """The open sessions, oldest first.

    Every principal's, each with its owner: the command line is ``local``, an admin.
    """
    sessions = _store(data_dir, skills_dir).list()
    if as_json:
        _json([s.to_dict() for s in sessions])
        return
    table = Table("id", "principal", "created", "expires", "files", "bytes", title="sessions")
    for s in sessions:
        table.add_row(cell(s.id), cell(s.principal), _when(s.created_at), _when(s.expires_at),
                      str(s.files), str(s.bytes))
    print_table(table)


@app.command()
def create(ttl: Annotated[float | None, typer.Option(
        "--ttl", help="Seconds after its last use it is removed.")] = None,
           skills_dir: opt.SkillsDir = None, data_dir: opt.DataDir = None) -> None:
    """Open a new session; prints its id (for ``script --session``)."""
    store = _store(data_dir, skills_dir)
    try:
        sys.stdout.write(store.create(ttl_s=ttl) + "\n")
    except SkillExecError as exc:
        if exc.code == "invalid_session_ttl":  # the API's words name its field, ttl_s
            opt.fail(f"--ttl {ttl:.15g}: must be over 0 and at most "
                     f"{store.settings.max_ttl_s:g} seconds")
        opt.fail(str(exc))


@app.command()
def show(session_id: Annotated[str, typer.Argument(metavar="ID")],
         as_json: Annotated[bool, typer.Option("--json", help="Print it as JSON.")] = False,
         skills_dir: opt.SkillsDir = None, data_dir: opt.DataDir = None) -> None:
    """One session and its files."""
    store = _store(data_dir, skills_dir)
    try:
        info, files = store.get(session_id), store.files(session_id)
    except SkillExecError as exc:
        opt.fail(str(exc))
    if as_json:
        _json({**info.to_dict(), "files": files})
        return
    sys.stdout.write(f"session {cell(info.id)} of {cell(info.principal)}: {info.files} "
                     f"files, {info.bytes} bytes ({info.made} entries with its folders "
                     f"and links), expires {_when(info.expires_at)}\n")
    table = Table("path", "size", "modified", title="files")
    for f in files:
        table.add_row(cell(str(f["path"])), str(f["size"]), _when(float(f["mtime"])))
    print_table(table)


@app.command()
def rm(session_id: Annotated[str, typer.Argument(metavar="ID")],
       skills_dir: opt.SkillsDir = None, data_dir: opt.DataDir = None) -> None:
    """Remove a session and its files."""
    try:
        _store(data_dir, skills_dir).remove(session_id)
    except SkillExecError as exc:
        opt.fail(str(exc))
    sys.stdout.write(f"removed session {session_id}\n")
