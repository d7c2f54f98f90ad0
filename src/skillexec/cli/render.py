"""How results and tasks look in a terminal."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson
from rich import box
from rich.console import Console
from rich.table import Table

from skillexec.cli.safe_text import cell, safe_line
from skillexec.cli.safe_text import escape_markup as escape
from skillexec.script_stderr import SCRIPT_EXIT, telling_line
from skillexec.task import ExecutionResult, TaskInfo, TaskStatus
from skillexec.units import duration, duration_ms

__all__ = ["error_sentence", "metrics_table", "results_table", "short", "tasks_table"]

_STYLE = {
    TaskStatus.SUCCEEDED: "green", TaskStatus.FAILED: "red", TaskStatus.TIMED_OUT: "yellow",
    TaskStatus.CANCELLED: "magenta", TaskStatus.REJECTED: "red",
}


def short(value: Any, width: int = 60) -> str:
    """One line of at most ``width`` characters (before escaping), controls escaped."""
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    text = " ".join(text.split())
    return safe_line(text if len(text) <= width else text[: width - 1] + "…")


def error_sentence(result: ExecutionResult) -> str:
    err = result.error
    if err is None:
        return ""
    message = err.message
    stderr = err.details.get("stderr")
    if err.code == SCRIPT_EXIT and isinstance(err.details.get("exit_code"), int):
        # "exited with status 1: <the last 500 characters of stderr>" starts mid-traceback
        # on one line; stderr's telling line and the hints, added below, say why in a few
        # words (kept in the message, a hint was said twice).
        message = f"the script exited with status {err.details['exit_code']}"
    if err.code == "no_entry_point":  # the command line says the commands instead
        message = message.split("; it offers ", 1)[0]
    text = f"{message} [{err.type.value}/{err.code}]"
    violations = err.details.get("violations") or []
    # The message already spells out the first few; add only those it left out.
    rest = [v for v in violations if isinstance(v, dict)
            and str(v.get("message", "")) not in err.message]
    if rest:
        text += "; " + "; ".join(f"{v.get('path') or '/'}: {v.get('message')}" for v in rest)
    if isinstance(stderr, str) and stderr.strip():
        text += f" (stderr: {short(telling_line(stderr), 200)})"
    # What the engine knows of a failed script's cause, cut above with its message.
    for key, said in (("requires_python", "the script {}"), ("sandbox", "{}"),
                      ("memory", "{}"), ("install", "{}"), ("bundled", "{}")):
        value = err.details.get(key)
        if err.code == SCRIPT_EXIT and isinstance(value, str) and value:
            text += f" ({said.format(value)})"
    suggestions = err.details.get("suggestions")
    if suggestions and "did you mean" not in err.message:
        text += f" (did you mean: {', '.join(str(s) for s in suggestions)}?)"
    return safe_line(text)  # a skill's message: one line, no control characters


def status_text(status: TaskStatus) -> str:
    style = _STYLE.get(status, "cyan")
    return f"[{style}]{status.value}[/{style}]"


def results_table(rows: Sequence[tuple[int, str, ExecutionResult]], *, title: str) -> Table:
    table = Table(title=title, show_lines=False, expand=True)
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("skill", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("ms", justify="right", no_wrap=True)
    table.add_column("tries", justify="right", no_wrap=True)
    table.add_column("output / error", ratio=1, overflow="fold")
    for line, skill, r in rows:
        wall = r.metrics.get("wall_ms")
        detail = (escape(short(r.output, 90)) if r.ok
                  else f"[red]{escape(short(error_sentence(r), 120))}[/red]")
        if r.artifacts:
            detail += f" [dim]+{len(r.artifacts)} artifact(s)[/dim]"
        table.add_row(str(line), cell(skill), status_text(r.status),
                      f"{wall:.1f}" if isinstance(wall, int | float) else "-",
                      str(r.attempts), detail)
    return table


def metrics_table(results: Sequence[ExecutionResult], elapsed_s: float) -> Table:
    # The monitor's definitions (README, "what the numbers mean"): imported here, not at
    # start, because `--help` must not pay for the monitoring package.
    from skillexec.monitoring.stats import in_latency, percentile, success_rate

    counts = Counter(r.status for r in results)
    walls = sorted(float(w) for r in results
                   if isinstance(w := r.metrics.get("wall_ms"), int | float)
                   and in_latency(r.status, float(w)))
    queues = [float(q) for r in results if isinstance(q := r.metrics.get("queue_ms"),
                                                      int | float)]
    table = Table(title="metrics", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("tasks", str(len(results)))
    table.add_row("by status", ", ".join(f"{s.value} {n}" for s, n in counts.most_common()))
    rate = success_rate(counts)
    if rate is not None:
        table.add_row("success rate (of tasks that ran to a verdict)", f"{100.0 * rate:.1f}%")
    table.add_row("elapsed", duration(elapsed_s))
    if elapsed_s > 0:
        table.add_row("throughput", f"{len(results) / elapsed_s:.1f} tasks/s")
    if walls:
        p50, p95 = percentile(walls, 0.5), percentile(walls, 0.95)
        table.add_row("run time p50 / p95 / max",
                      " / ".join(duration_ms(v) for v in (p50, p95, walls[-1])))
    if queues:
        table.add_row("queue wait mean", duration_ms(statistics.fmean(queues)))
    retried = sum(1 for r in results if r.attempts > 1)
    table.add_row("retried", str(retried))
    table.add_row("artifacts", str(sum(len(r.artifacts) for r in results)))
    return table


def tasks_table(infos: Sequence[TaskInfo]) -> Table:
    table = Table(title="tasks", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    # The id is what a reader copies into the next command: whole, however narrow the
    # terminal (80 columns leave the skill 8 and fold it; `--json` has everything).
    table.add_column("task id", no_wrap=True, min_width=24)
    table.add_column("skill", overflow="fold", min_width=8)
    table.add_column("status", no_wrap=True)
    table.add_column("prio", justify="right", no_wrap=True)
    table.add_column("tries", justify="right", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("wall ms", justify="right", no_wrap=True)
    import datetime as _dt
    for i in infos:
        wall = i.result.metrics.get("wall_ms") if i.result else None
        created = _dt.datetime.fromtimestamp(i.created_at).strftime("%m-%d %H:%M")
        table.add_row(cell(i.task_id), cell(i.skill_id), status_text(i.status), str(i.priority),
                      str(i.attempts), created,
                      f"{wall:.1f}" if isinstance(wall, int | float) else "-")
    return table



def make_console(*, stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False, emoji=False)
