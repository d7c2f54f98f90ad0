"""``skillexec batch``: every call of a JSON Lines file, highest priority first, with a
summary (exit 1 when one did not succeed, unless ``--keep-going``)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import typer

from skillexec.cli import options as opt
from skillexec.cli.output import print_table
from skillexec.cli.render import make_console, metrics_table, results_table
from skillexec.cli.run_cmd import unnamed_params
from skillexec.cli.safe_text import json_text, safe_line
from skillexec.errors import SkillExecError
from skillexec.task import ExecutionResult, TaskStatus

if TYPE_CHECKING:  # imported where used: `--help` must not pay for them
    from rich.console import Console
    from rich.progress import Progress

    from skillexec.engine import SkillExecutionEngine

__all__ = ["batch"]

T = TypeVar("T")


# What execute() takes from a caller, but its principal (the command line's) and limits.
_BATCH_KEYS = ("skill", "params", "priority", "timeout", "version", "config", "deadline",
               "max_retries", "cache")


@dataclass(frozen=True, slots=True)
class _Call:
    """One line of a batch: the call it asks for, or why it cannot be one."""

    line: int
    skill: str
    options: dict[str, Any]
    problem: str = ""


def _parse_line(number: int, text: str) -> _Call:
    if _undecoded(text):
        return _Call(number, "?", {}, f"line {number}: not UTF-8 text")
    try:
        spec = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return _Call(number, "?", {}, f"line {number}: not valid JSON ({exc})")
    if not isinstance(spec, dict) or not isinstance(spec.get("skill"), str):
        return _Call(number, "?", {},
                     f"line {number}: each line must be an object with a string 'skill'")
    unknown = sorted(set(spec) - set(_BATCH_KEYS))
    if unknown:
        return _Call(number, spec["skill"], {},
                     f"line {number}: unknown key(s) {', '.join(map(repr, unknown))} "
                     f"(a line may have {', '.join(_BATCH_KEYS)})")
    params = spec.get("params")
    if params is not None and not isinstance(params, dict):
        return _Call(number, spec["skill"], {},
                     f"line {number}: 'params' must be an object, got "
                     f"{type(params).__name__}")
    options = {k: spec[k] for k in _BATCH_KEYS[2:] if k in spec}
    return _Call(number, spec["skill"], {"params": params or {}, **options})


def _read_batch(file: str) -> str:
    if file == "-":
        raw = sys.stdin.buffer.read()
    else:
        path = Path(file)
        if not path.is_file():
            opt.fail(f"{path}: is a folder, not a JSON Lines file" if path.is_dir()
                     else f"no such file: {path}")
        try:
            raw = path.read_bytes()
        except OSError as exc:
            opt.fail(f"{path}: cannot be read: {exc.strerror or exc}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = raw.decode("utf-8", errors="surrogateescape")
        if all(_undecoded(ln) for ln in text.splitlines() if ln.strip()):  # another encoding
            opt.fail(f"{file if file != '-' else 'stdin'}: not UTF-8 text ({exc.reason} at "
                     f"byte {exc.start})")
        return text  # a line that is not UTF-8 is refused alone, like any bad line


def _undecoded(text: str) -> bool:
    """Whether ``text`` holds bytes that were not UTF-8 (surrogateescape's lone halves)."""
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _refused(call: _Call) -> ExecutionResult:
    from skillexec.errors import ParameterError

    err = ParameterError(call.problem, code="invalid_batch_line")
    return ExecutionResult(task_id="-", skill_id=call.skill, skill_version="",
                           status=TaskStatus.REJECTED, error=err.info, created_at=time.time())


async def _settled(fut: asyncio.Future[T]) -> T:
    """The result of ``fut``, however often the caller is interrupted meanwhile."""
    while not fut.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(fut)
    return fut.result()


def batch(
    file: Annotated[str, typer.Argument(
        metavar="FILE.jsonl|-", help="JSON Lines: {skill, params, priority, timeout, version, "
                                     "config, deadline, max_retries, cache} per line; - reads "
                                     "stdin.")],
    concurrency: Annotated[int, typer.Option(min=1, help="Calls in flight at once.")] = 16,
    as_json: Annotated[bool, typer.Option(
        "--json", help="One JSON result per line, as each call ends.")] = False,
    keep_going: Annotated[bool, typer.Option(
        "--keep-going", help="Exit 0 even if some calls did not succeed.")] = False,
    skills_dir: opt.SkillsDir = None,
    data_dir: opt.DataDir = None,
    journal_url: opt.JournalUrl = None,
) -> None:
    """Run every call of a JSON Lines file (highest priority first), with a summary."""
    lines = [(n, ln) for n, ln in enumerate(_read_batch(file).splitlines(), 1) if ln.strip()]
    calls = [_parse_line(n, ln) for n, ln in lines]
    out = make_console(stderr=as_json)
    err_console = make_console(stderr=True)

    def emit(row: tuple[int, str, ExecutionResult]) -> None:
        if as_json:  # streamed as each call ends; "line" ties it to the input line
            body = {"line": row[0], **row[2].to_dict()}
            sys.stdout.write(json_text(orjson.dumps(body, default=str).decode()) + "\n")
            sys.stdout.flush()

    async def go() -> tuple[list[tuple[int, str, ExecutionResult]], float, int, bool]:
        engine = opt.engine(skills_dir=skills_dir, data_dir=data_dir, journal_url=journal_url,
                            concurrency=concurrency, recover=False)
        rows: list[tuple[int, str, ExecutionResult]] = []
        for call in calls:
            if call.problem:
                rows.append((call.line, call.skill, _refused(call)))
                emit(rows[-1])
        async with opt.engine_scope(engine):
            opt.left_notice(engine)
            started = time.perf_counter()
            todo = sorted((c for c in calls if not c.problem),
                          key=lambda c: -_priority(engine, c))
            for call in (c for c in calls if not c.problem):  # before they run, in file order
                for note in unnamed_params(engine, call.skill, call.options["params"],
                                           version=call.options.get("version")):
                    sys.stderr.write(f"note: {safe_line(f'line {call.line}: {note}')}\n")
            # Highest priority first, file order within a priority: what the queue would do
            # with everything submitted at once (the first calls take free slots directly).
            ids: dict[str, _Call] = {}
            interrupted = False
            for call in todo:
                submitting = asyncio.ensure_future(engine.submit(call.skill, **call.options))
                try:
                    ids[await asyncio.shield(submitting)] = call
                except asyncio.CancelledError:
                    ids[await _settled(submitting)] = call  # accepted: it is ours to end
                    interrupted = True
                    break
            waits = {asyncio.ensure_future(engine.wait(t)): t for t in ids}
            pending = set(waits)
            progress = _progress(err_console, total=len(calls))
            with progress:
                bar = progress.add_task("batch", total=len(calls), completed=len(rows))
                try:
                    while pending and not interrupted:
                        done, pending = await asyncio.wait(
                            pending, return_when=asyncio.FIRST_COMPLETED)
                        for w in done:
                            call = ids[waits[w]]
                            rows.append((call.line, call.skill, w.result()))
                            emit(rows[-1])
                            progress.advance(bar)
                except asyncio.CancelledError:
                    interrupted = True
                if interrupted:
                    # Stop: journal every accepted call's end before anything is printed.
                    await _settled(asyncio.ensure_future(
                        engine.cancel_all(grace_s=engine.config.interrupt_grace_s)))
                    for w in pending:
                        call = ids[waits[w]]
                        rows.append((call.line, call.skill, await _settled(w)))
                        emit(rows[-1])
            not_sent = len(calls) - len(rows)
            return (sorted(rows, key=lambda r: r[0]), time.perf_counter() - started,
                    not_sent, interrupted)

    rows, elapsed, not_sent, interrupted = opt.run_async(go())
    if not as_json:
        title = f"{file if file != '-' else 'stdin'}: {len(rows)} calls"
        print_table(results_table(rows, title=title), console=out)
    print_table(metrics_table([r for _, _, r in rows], elapsed), console=out)
    if interrupted:
        cancelled = sum(r.status is TaskStatus.CANCELLED for _, _, r in rows)
        sys.stderr.write(f"skillexec: interrupted: {len(rows)} calls ended ({cancelled} of "
                         f"them cancelled), {not_sent} not submitted\n")
        raise typer.Exit(opt.INTERRUPTED)
    if not keep_going and any(not r.ok for _, _, r in rows):
        raise typer.Exit(1)


def _priority(engine: SkillExecutionEngine, call: _Call) -> int:
    given = call.options.get("priority")
    if isinstance(given, int) and not isinstance(given, bool):
        return given
    try:
        skill = engine.skills.get(call.skill, call.options.get("version"))
    except SkillExecError:
        return engine.config.default_priority  # refused at submit, with the reason
    own = skill.execution.priority
    return own if own is not None else engine.config.default_priority


def _progress(console: Console, *, total: int) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    # On a terminal only: in a pipe or a log a bar is noise.
    return Progress(TextColumn("[bold]running"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True,
                    disable=not console.is_terminal or total == 0)
