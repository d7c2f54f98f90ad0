"""``skillexec report errors`` and ``skillexec tasks replay``: failures, read and re-run."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import orjson
import typer

from skillexec.cli import options as opt
from skillexec.cli.output import print_table
from skillexec.cli.render import make_console
from skillexec.cli.safe_text import cell, json_text, safe_block, safe_line
from skillexec.task import TaskStatus

if TYPE_CHECKING:  # imported where used: `--help` must not pay for them
    from rich.console import Console

    from skillexec.engine import SkillExecutionEngine
    from skillexec.reliability.analysis import ErrorReport
    from skillexec.replay import ReplayOutcome
    from skillexec.storage.store import TaskStore

__all__ = ["errors", "parse_since", "replay"]


def parse_since(text: str | None, *, now: float | None = None) -> float | None:
    """``1h``, ``30m``, ``2d`` ago; an ISO date or time; epoch seconds; ``all`` (None)."""
    try:
        from skillexec.monitoring import reports
        return reports.parse_since(text, now=now)
    except ValueError as exc:
        opt.fail(f"--since: {exc}")


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def errors(
    since: Annotated[str, typer.Option(help="Tasks created since: 1h, 30m, 2d, a date, all.")]
    = "24h",
    fmt: Annotated[Literal["table", "json", "html"], typer.Option(
        "--format", "-f", help="table, json or html.")] = "table",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this file (html defaults to errors-report.html).")]
    = None,
    limit: Annotated[int, typer.Option(min=1, help="Most recent tasks to read.")] = 10000,
    tracebacks: Annotated[bool, typer.Option(
        "--tracebacks", help="Print each group's example traceback.")]
    = False,
    data_dir: opt.DataDir = None,
    journal_url: opt.JournalUrl = None,
) -> None:
    """Failures grouped by skill, error type and message fingerprint, with recovery rates."""
    cfg = opt.config(skills_dir=None, data_dir=data_dir, journal_url=journal_url)
    start = parse_since(since)
    from skillexec.reliability.analysis import error_report
    report = opt.with_journal(cfg, lambda store: error_report(store, since=start, limit=limit))
    if fmt == "json":
        text = orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2,
                            default=str).decode() + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            _write(output, text)
        return
    if fmt == "table" and output is None:
        _print_report(report, tracebacks=tracebacks, console=make_console())
        return
    from rich.console import Console

    # A file gets the drawn tables at a width a reader's editor or browser shows whole.
    console = Console(record=True, width=160, file=io.StringIO(), highlight=False, emoji=False)
    _print_report(report, tracebacks=tracebacks, console=console)
    target = output or Path("errors-report.html")
    _write(target, console.export_html(inline_styles=True) if fmt == "html"
           else console.export_text())
    make_console(stderr=True).print(f"wrote {target}", markup=False, soft_wrap=True)


def _write(target: Path, text: str) -> None:
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        opt.fail(f"--output {target}: cannot be written: {exc.strerror or exc}")


def _print_report(report: ErrorReport, *, tracebacks: bool, console: Console) -> None:
    from rich.table import Table

    console.print(
        f"{report.tasks_scanned} tasks read; {report.tasks_with_failures} with a failed "
        f"attempt ({report.failed_attempts} failed attempts), {report.recovered_tasks} of "
        f"them recovered ({report.recovery_rate:.1%}); {report.refused_tasks} refused "
        f"before they ran; {report.dead_letters} dead letters",
        soft_wrap=True)
    if not report.groups:
        console.print("no failures")
        return
    table = Table(title="failures by skill, type and fingerprint")
    for col, justify in (("skill", "left"), ("type", "left"), ("fingerprint", "left"),
                         ("count", "right"), ("refused", "right"), ("tasks", "right"),
                         ("recovered", "right"),
                         ("mean attempts", "right"), ("first seen", "left"),
                         ("last seen", "left")):
        table.add_column(col, justify=justify,  # type: ignore[arg-type]
                         no_wrap=col == "skill")
    for g in report.groups:
        table.add_row(cell(g.skill_id), cell(g.error_type), cell(g.fingerprint[:80]),
                      str(g.count), str(g.refusals),
                      str(g.tasks), f"{g.recovery_rate:.0%}", f"{g.mean_attempts:.2f}",
                      _stamp(g.first_seen), _stamp(g.last_seen))
    print_table(table, console=console)
    if report.breaker_transitions:
        console.print("circuit breakers:")
        for t in report.breaker_transitions[-20:]:
            console.print(f"  {_stamp(t['at'])} {cell(t.get('skill'))}: {t.get('from')} → "
                          f"{t.get('to')} ({cell(t.get('reason'))})", soft_wrap=True)
    if tracebacks:
        for g in report.groups:
            if g.example_traceback:
                console.rule(cell(f"{g.skill_id} {g.error_type}: {g.fingerprint[:60]}"))
                console.print(safe_block(g.example_traceback), markup=False, highlight=False)


def replay(
    task_id: Annotated[str | None, typer.Argument(
        metavar="ID", help="The task to run again.")] = None,
    all_failed: Annotated[bool, typer.Option(
        "--all-failed", help="Every dead letter not replayed yet.")] = False,
    since: Annotated[str, typer.Option(help="With --all-failed: dead letters since.")]
    = "all",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per task.")]
    = False,
    skills_dir: opt.SkillsDir = None,
    data_dir: opt.DataDir = None,
    journal_url: opt.JournalUrl = None,
) -> None:
    """Run a failed task again (its stored request), or every dead letter: new task ids."""
    if (task_id is None) == (not all_failed):
        opt.fail("give a task id or --all-failed (not both)")
    start = parse_since(since) or 0.0

    from skillexec.reliability.deadletter import dead_letters
    from skillexec.replay import replay as replay_tasks
    async def go() -> list[ReplayOutcome]:
        engine = opt.engine(skills_dir=skills_dir, data_dir=data_dir, journal_url=journal_url,
                            recover=False)
        async with opt.engine_scope(engine):
            if task_id is not None:
                ids = [task_id]
            else:
                ids = [str(d["task_id"]) for d in await dead_letters(
                    _store(engine), since=start)]
            opt.left_notice(engine, exclude=ids)
            # --all-failed runs each dead letter once, also beside another replay
            outcomes = await replay_tasks(engine, ids, again=task_id is not None)
            # A leftover of a killed process, replayed, is replaced: the original ends
            # (cancelled) so that its request has run once, not once more later.
            left = set(engine.recovery.left)
            for o in outcomes:
                if o.new_task_id is not None and o.original_task_id in left:
                    await engine.cancel(o.original_task_id)
            return outcomes

    outcomes = opt.run_async(go())
    if task_id is not None and outcomes and outcomes[0].new_task_id is None:
        opt.fail(f"task {task_id} not replayed: {outcomes[0].error}")
    console = make_console()
    if not outcomes and not as_json:
        console.print("nothing to replay")
    ok = True
    for o in outcomes:
        status = o.result.status if o.result else None
        ok = ok and status is TaskStatus.SUCCEEDED
        if as_json:
            sys.stdout.write(json_text(orjson.dumps(o.to_dict(), default=str).decode()) + "\n")
            continue
        if o.new_task_id is None:
            console.print(f"{cell(o.original_task_id)}: not replayed: {cell(o.error)}",
                          soft_wrap=True)
            continue
        res = o.result
        what = ""
        if res is not None and res.error is not None:
            what = f" {res.error.code}: {res.error.message}"
        elif res is not None:
            what = " " + orjson.dumps(res.output, default=str).decode()[:200]
        console.print(safe_line(f"{o.original_task_id} → {o.new_task_id}: "
                                f"{status.value if status else 'submitted'} "
                                f"({res.attempts if res else 0} attempts){what}"),
                      markup=False, highlight=False)
    raise typer.Exit(0 if ok else 1)


def _store(engine: SkillExecutionEngine) -> TaskStore:
    store = engine.journal
    if store is None:
        opt.fail("this engine has no journal")
    return store

