"""``skillexec report ...``: reports read from the journal (past runs and restarts included).

``summary``, ``performance``, ``task ID`` and ``alerts`` print a table, JSON, or write a
self-contained HTML file (charts as inline SVG: it works offline).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from skillexec.cli import options as opt
from skillexec.cli.output import print_report
from skillexec.cli.render import make_console
from skillexec.cli.safe_text import cell, cells, json_text

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Reports from the journal: past runs included.")

Since = Annotated[str, typer.Option(help="From: 30m, 1h, 2d ago, an ISO date, or all.")]
Until = Annotated[str | None, typer.Option(help="Up to (same forms as --since).")]
Format = Annotated[Literal["table", "json", "html"], typer.Option(
    "--format", "-f", help="table, json or html.")]
Output = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write to this file (html defaults to report.html).")]


def _print_json(data: Any, output: Path | None = None) -> None:
    import orjson

    text = json_text(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        opt.fail(f"--output {output}: cannot be written: {exc.strerror or exc}")


def _journal_report(make: Callable[..., Awaitable[dict[str, Any]]], since: str,
                    until: str | None, fmt: str, output: Path | None,
                    data_dir: Path | None, journal_url: str | None) -> dict[str, Any] | None:
    """``make(store, since=, until=)`` over the journal; printed here as JSON (then None),
    else returned for the caller's table."""
    start, end = _bounds(since, until)
    cfg = opt.config(skills_dir=None, data_dir=data_dir, journal_url=journal_url)
    report = opt.with_journal(cfg, lambda store: make(store, since=start, until=end))
    if fmt == "json":
        _print_json(report, output)
        return None
    return report


def _produce(kind: str, fmt: str, output: Path | None, data_dir: Path | None,
             journal_url: str | None, make: Callable[[Any], Awaitable[dict[str, Any]]]) -> None:
    from skillexec.monitoring.report_render import to_html, to_json, to_table
    from skillexec.monitoring.reports import ExecutionReportGenerator

    cfg = opt.config(skills_dir=None, data_dir=data_dir, journal_url=journal_url)
    try:
        report = opt.with_journal(cfg, lambda store: make(ExecutionReportGenerator(store)))
    except KeyError as exc:
        opt.fail(str(exc.args[0]) if exc.args else str(exc))
    if fmt == "html":
        target = output or Path(f"{kind}-report.html")
        target.write_text(to_html(report), encoding="utf-8")
        make_console(stderr=True).print(f"wrote {cell(target)}", soft_wrap=True)
    elif fmt == "json":
        text = json_text(to_json(report)) + "\n"
        if output is not None:
            output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    else:
        console = make_console()
        if output is not None:
            from rich.console import Console

            with output.open("w", encoding="utf-8") as fh:
                Console(file=fh, width=160, emoji=False).print(to_table(cells(report)))
        else:
            print_report(to_table(cells(report)), console=console)


def _bounds(since: str, until: str | None) -> tuple[float | None, float | None]:
    from skillexec.monitoring.reports import parse_since

    try:
        start, end = parse_since(since), parse_since(until)
    except ValueError as exc:
        opt.fail(str(exc))
    if start is not None and end is not None and start > end:  # else an empty report
        opt.fail(f"--since {since} is later than --until {until}: nothing lies between "
                 "(--since is the older end of the range)")
    return start, end


@app.command()
def summary(since: Since = "24h", until: Until = None, fmt: Format = "table",
            output: Output = None, data_dir: opt.DataDir = None,
            journal_url: opt.JournalUrl = None) -> None:
    """Counts, success rate, top errors and the busiest skills of a time range."""
    start, end = _bounds(since, until)
    _produce("summary", fmt, output, data_dir, journal_url, lambda g: g.summary(start, end))


@app.command()
def performance(since: Since = "24h", until: Until = None, fmt: Format = "table",
                output: Output = None, data_dir: opt.DataDir = None,
                journal_url: opt.JournalUrl = None) -> None:
    """Per-skill percentiles, throughput over time, resource use and the slowest calls."""
    start, end = _bounds(since, until)
    _produce("performance", fmt, output, data_dir, journal_url, lambda g: g.performance(start, end))


@app.command("task")
def task_report(task_id: Annotated[str, typer.Argument(help="The task's id.")],
                fmt: Format = "table", output: Output = None,
                data_dir: opt.DataDir = None,
                journal_url: opt.JournalUrl = None) -> None:
    """One task: its timeline, attempts, metrics, artifacts and errors."""
    _produce("task", fmt, output, data_dir, journal_url, lambda g: g.detailed(task_id))


@app.command()
def alerts(since: Since = "7d", until: Until = None, fmt: Format = "table",
           output: Output = None, data_dir: opt.DataDir = None,
           journal_url: opt.JournalUrl = None) -> None:
    """Alerts sent (and resolved), newest first, from the journal."""
    start, end = _bounds(since, until)
    _produce("alerts", fmt, output, data_dir, journal_url, lambda g: g.alerts(start, end))


@app.command()
def suggestions(since: Since = "7d", until: Until = None,
                fmt: Format = "table",
                min_calls: Annotated[int, typer.Option(
                    min=1, help="Calls of a skill needed before it is judged.")] = 20,
                output: Output = None,
                skills_dir: opt.SkillsDir = None, data_dir: opt.DataDir = None,
                journal_url: opt.JournalUrl = None) -> None:
    """Concrete advice (timeouts, caching, memory, concurrency, failures), with its numbers."""
    from skillexec.optimization.suggestions import suggest
    from skillexec.resources.manager import ResourceManager
    from skillexec.skills.registry import SkillRegistry

    start, end = _bounds(since, until)
    cfg = opt.config(skills_dir=skills_dir, data_dir=data_dir,
                     journal_url=journal_url)
    registry = SkillRegistry()
    if cfg.skills_dir is not None and cfg.skills_dir.is_dir():
        registry.load_dir(cfg.skills_dir, strict=cfg.strict_manifests)
    resources = ResourceManager(limits=cfg.settings_of("resources"))
    found = opt.with_journal(cfg, lambda store: suggest(
        store, skills=registry, resources=resources, config=cfg, since=start, until=end,
        min_calls=min_calls))
    if fmt == "json":
        _print_json([s.to_dict() for s in found], output)
        return
    if not found:
        _emit("suggestions", ["no suggestions: nothing in the journal calls for a change"],
              fmt, output)
        return
    from rich.table import Table

    table = Table(title="Suggestions", show_lines=True)
    for col in ("severity", "skill", "suggestion", "evidence"):
        table.add_column(col)
    for s in found:
        evidence = ", ".join(f"{k}={v}" for k, v in s.evidence.items()
                             if not isinstance(v, dict))
        table.add_row(s.severity, cell(s.skill), cell(s.message), cell(evidence))
    _emit("suggestions", [table], fmt, output)


@app.command()
def predictions(since: Since = "7d", until: Until = None, fmt: Format = "table",
                output: Output = None, data_dir: opt.DataDir = None,
                journal_url: opt.JournalUrl = None) -> None:
    """How accurate the duration predictions were (MAE), per skill and over time."""
    from skillexec.smart.accuracy import prediction_report

    report = _journal_report(prediction_report, since, until, fmt, output, data_dir, journal_url)
    if report is None:
        return
    if not report["calls"]:
        _emit("predictions", ["no predicted calls in this range: a skill is predicted from "
                              "its second call on (with \\[smart] enabled)"], fmt, output)
        return
    from rich.table import Table

    from skillexec.units import duration_ms as ms

    table = Table(title=f"Prediction accuracy: {report['calls']} predicted calls, MAE "
                        f"{ms(report['mae_ms'])} (per-skill mean: "
                        f"{ms(report['baseline_mae_ms'])})")
    for col in ("skill", "calls", "mean", "MAE", "baseline MAE", "ratio"):
        table.add_column(col, justify="left" if col == "skill" else "right")
    for s in report["skills"]:
        table.add_row(cell(s["skill"]), str(s["calls"]), ms(s["mean_ms"]), ms(s["mae_ms"]),
                      ms(s["baseline_mae_ms"]),
                      "-" if s["ratio"] is None else f"{s['ratio']:.2f}")
    _emit("predictions", [table], fmt, output)


@app.command()
def usage(since: Since = "24h", until: Until = None, fmt: Format = "table",
          output: Output = None, data_dir: opt.DataDir = None,
          journal_url: opt.JournalUrl = None) -> None:
    """What each skill and each principal used: calls, CPU seconds, wall time, peak memory."""
    from skillexec.resources.usage_report import usage_report

    report = _journal_report(usage_report, since, until, fmt, output, data_dir, journal_url)
    if report is None:
        return
    from rich.table import Table

    from skillexec.units import duration, number

    tables: list[Any] = []
    for title, rows in (("skill", report["skills"]), ("principal", report["principals"])):
        if not rows:
            continue
        table = Table(title=f"Usage by {title}")
        for col in (title, "calls", "failures", "refusals", "cancelled", "cached", "CPU",
                    "wall", "peak memory"):
            table.add_column(col, justify="left" if col == title else "right")
        for name, u in sorted(rows.items(), key=lambda kv: -kv[1]["wall_seconds"]):
            table.add_row(cell(name), str(u["calls"]), str(u["failures"]), str(u["refusals"]),
                          str(u["cancellations"]), str(u["cached"]),
                          duration(u["cpu_seconds"]), duration(u["wall_seconds"]),
                          "-" if u["peak_memory_mb"] is None
                          else f"{number(u['peak_memory_mb'])} MB")
        tables.append(table)
    _emit("usage", tables or ["no calls in this range"], fmt, output)


def _emit(kind: str, parts: list[Any], fmt: str, output: Path | None) -> None:
    """Tables (or a line of text) as a table on stdout or in a text file, or as HTML."""
    from rich.console import Console, Group

    if fmt == "table" and output is None:
        print_report(Group(*parts), console=make_console())
        return
    console = Console(record=True, width=160, file=io.StringIO(), highlight=False, emoji=False)
    print_report(Group(*parts), console=console)
    target = output or Path(f"{kind}-report.html")
    text = (console.export_html(inline_styles=True) if fmt == "html"
            else console.export_text())
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        opt.fail(f"--output {target}: cannot be written: {exc.strerror or exc}")
    if fmt == "html" or output is not None:
        make_console(stderr=True).print(f"wrote {cell(target)}", soft_wrap=True)
