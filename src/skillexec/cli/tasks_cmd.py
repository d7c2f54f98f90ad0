"""``skillexec tasks list | show | cancel``: read the journal, even of a stopped engine.

``cancel`` asks through the journal; the engine holding the data directory acts on it
within a second. When no engine holds it (the process that accepted the task was killed),
``cancel`` ends the task itself: it is journaled ``cancelled``, never left ``running``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import typer

from skillexec.cli import options as opt
from skillexec.cli.output import print_table
from skillexec.cli.render import make_console, tasks_table
from skillexec.cli.safe_text import json_text, print_json
from skillexec.task import TaskInfo, TaskStatus

if TYPE_CHECKING:  # imported where used: `--help` must not pay for them
    from skillexec.storage.store import TaskStore

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Look at and cancel tasks in the journal.")
T = TypeVar("T")


def _with_store(data_dir: Path | None, journal_url: str | None,
                fn: Callable[[TaskStore], Awaitable[T]]) -> T:
    return opt.with_journal(opt.config(skills_dir=None, data_dir=data_dir,
                                       journal_url=journal_url), fn)


@app.command("list")
def list_(
    status: Annotated[TaskStatus | None, typer.Option(help="Only tasks in this state.")] = None,
    skill: Annotated[str | None, typer.Option(help="Only tasks of this skill.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
    data_dir: opt.DataDir = None,
    journal_url: opt.JournalUrl = None,
) -> None:
    """The most recent tasks."""
    infos = _with_store(data_dir, journal_url, lambda s: s.list_tasks(status=status, skill_id=skill,
                                                          limit=limit))
    if as_json:
        typer.echo(json_text(orjson.dumps([i.to_dict() for i in infos], default=str).decode()))
    else:
        print_table(tasks_table(infos), console=make_console())


@app.command()
def show(task_id: Annotated[str, typer.Argument(metavar="ID", help="A task id.")],
         as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
         data_dir: opt.DataDir = None,
        journal_url: opt.JournalUrl = None) -> None:
    """One task: its state, result, and every attempt with the decision taken."""
    async def fetch(store: TaskStore) -> tuple[TaskInfo | None, list[dict[str, Any]]]:
        return await store.get(task_id), await store.history(task_id)

    info, history = _with_store(data_dir, journal_url, fetch)
    if info is None:
        opt.fail(f"no task with id {task_id!r}")
    body = info.to_dict()
    body["history"] = history
    text = json_text(orjson.dumps(body, default=str).decode())
    if as_json or not sys.stdout.isatty():
        typer.echo(text)
    else:
        print_json(make_console(), text)


@app.command()
def cancel(task_id: Annotated[str, typer.Argument(metavar="ID", help="A task id.")],
           as_json: Annotated[bool, typer.Option("--json", help="The outcome as JSON.")] = False,
           data_dir: opt.DataDir = None,
        journal_url: opt.JournalUrl = None) -> None:
    """Cancel a queued or running task, also one whose process has died."""
    cfg = opt.config(skills_dir=None, data_dir=data_dir, journal_url=journal_url)

    async def ask(store: TaskStore) -> TaskInfo | None:
        info = await store.get(task_id)
        if info is not None and not info.status.terminal:
            await store.request_cancel(task_id)
        return info

    info = opt.with_journal(cfg, ask)
    if info is None:
        opt.fail(f"no task with id {task_id!r}")
    if info.status.terminal:
        opt.fail(f"task {task_id} already finished ({info.status.value})", 1)
    if not opt.engine_alive(cfg.data_dir):
        # Nobody will act on the request: the process that accepted the task is gone. An
        # engine that does not recover ends exactly the tasks whose cancellation was asked.
        async def end() -> None:
            from skillexec.engine import SkillExecutionEngine
            engine = SkillExecutionEngine(config=cfg.model_copy(
                update={"recover": False, "skills_dir": None}))
            async with engine:
                pass

        opt.run_async(end())
    final = opt.with_journal(cfg, lambda s: _until_ended(s, task_id, _WAIT_S))
    ended = final is not None and final.status.terminal
    if as_json:
        typer.echo(orjson.dumps({"task_id": task_id, "cancel_requested": True,
                                 "status": final.status.value if final else None,
                                 "ended": ended}).decode())
    elif ended and final is not None:
        make_console().print(f"task {task_id} {final.status.value}", markup=False,
                             soft_wrap=True)
    else:
        make_console().print(f"cancellation of {task_id} requested; the engine running it "
                             "ends it", markup=False, soft_wrap=True)


@app.command()
def purge(
    principal: Annotated[str | None, typer.Option(
        help="Whose data to erase (the principal tasks were run as).")] = None,
    anonymous: Annotated[bool, typer.Option(
        "--anonymous", help="Erase the data of tasks run without a principal.")] = False,
    before: Annotated[str | None, typer.Option(
        help="Only tasks created before this date or time (ISO 8601, UTC unless it says).")
    ] = None,
    data_dir: opt.DataDir = None,
    journal_url: opt.JournalUrl = None,
) -> None:
    """Erase a principal's task data and artifacts.

    Parameters, outputs, error text, histories and artifacts of its finished tasks go (with
    encryption and no --before, its data key too). Stop the engine first."""
    if (principal is None) == (not anonymous):
        opt.fail("give --principal NAME or --anonymous (exactly one)")
    cutoff = _instant(before) if before is not None else None
    cfg = opt.config(skills_dir=None, data_dir=data_dir, journal_url=journal_url)
    if not cfg.journal_is_shared and not Path(cfg.journal_where).exists():
        opt.fail(opt.no_journal(cfg))
    if opt.engine_alive(cfg.data_dir):
        opt.fail(f"an engine is running on {cfg.data_dir}: stop it first (its keys and "
                 "caches would outlive the purge)")

    async def go() -> dict[str, Any]:
        engine = opt.engine(skills_dir=None, data_dir=data_dir, recover=False,
                            journal_url=journal_url)
        async with opt.engine_scope(engine):
            return (await engine.purge(principal=principal, before=cutoff)).to_dict()

    done = opt.run_async(go())
    typer.echo(f"purged {done['tasks']} tasks, {done['artifacts']} artifacts "
               f"({done['files']} files), {done['events']} events"
               + ("; the data key was destroyed" if done["key_destroyed"] else ""))


def _instant(text: str) -> float:
    import datetime as dt
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        opt.fail(f"--before {text!r}: not an ISO 8601 date or time (e.g. 2026-01-31)")
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


_WAIT_S = 5.0  # a live engine reads cancellation requests every 0.5 s; a busy one later


async def _until_ended(store: TaskStore, task_id: str, wait_s: float) -> TaskInfo | None:
    deadline = time.monotonic() + wait_s
    while True:
        info = await store.get(task_id)
        if info is None or info.status.terminal or time.monotonic() >= deadline:
            return info
        await asyncio.sleep(0.05)
