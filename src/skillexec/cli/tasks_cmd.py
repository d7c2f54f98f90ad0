"""``skillexec tasks list | show | cancel``: read the journal, even of a stopped engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer

from skillexec.cli import options as opt
from skillexec.cli.render import make_console, tasks_table
from skillexec.cli.safe_text import json_text, print_json
from skillexec.storage.sqlite import SQLiteStore
from skillexec.task import TaskInfo, TaskStatus

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Look at and cancel tasks in the journal.")
T = TypeVar("T")


def _with_store(data_dir: Path | None, fn: Callable[[SQLiteStore], Awaitable[T]]) -> T:
    return opt.with_journal(opt.config(skills_dir=None, data_dir=data_dir), fn)


@app.command("list")
def list_(
    status: Annotated[TaskStatus | None, typer.Option(help="Only tasks in this state.")] = None,
    skill: Annotated[str | None, typer.Option(help="Only tasks of this skill.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    data_dir: opt.DataDir = None,
) -> None:
    """The most recent tasks."""
    infos = _with_store(data_dir, lambda s: s.list_tasks(status=status, skill_id=skill,
                                                          limit=limit))
    if as_json:
        typer.echo(json_text(orjson.dumps([i.to_dict() for i in infos], default=str).decode()))
    else:
        make_console().print(tasks_table(infos))


@app.command()
def show(task_id: str, data_dir: opt.DataDir = None) -> None:
    """One task: its state, result, and every attempt with the decision taken."""
    async def fetch(store: SQLiteStore) -> tuple[TaskInfo | None, list[dict[str, Any]]]:
        return await store.get(task_id), await store.history(task_id)

    info, history = _with_store(data_dir, fetch)
    if info is None:
        opt.fail(f"no task with id {task_id!r}")
    body = info.to_dict()
    body["history"] = history
    print_json(make_console(), orjson.dumps(body, default=str).decode())


@app.command()
def cancel(task_id: str, data_dir: opt.DataDir = None) -> None:
    """Cancel a queued or running task (the engine that runs it acts within a second)."""
    done = _with_store(data_dir, lambda s: s.request_cancel(task_id))
    if not done:
        opt.fail(f"task {task_id} is unknown or already finished", 1)
    make_console().print(f"cancellation of {task_id} requested")


