"""``skillexec run | batch``, and the command groups.

Exit codes: 0 the skill succeeded; 1 it failed, timed out or was cancelled; 2 the request
was refused before running (unknown skill, invalid parameters, missing dependency, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import orjson
import typer

from skillexec.cli import (
    artifacts_cmd,
    audit_cmd,
    errors_cmd,
    keys_cmd,
    mcp_cmd,
    metrics_cmd,
    report_cmd,
    script_cmd,
    serve_cmd,
    sessions_cmd,
    skills_cmd,
    tasks_cmd,
    worker_cmd,
)
from skillexec.cli import options as opt
from skillexec.cli.output import print_table
from skillexec.cli.render import (
    error_sentence,
    make_console,
    metrics_table,
    results_table,
)
from skillexec.cli.safe_text import cell, json_text, safe_block
from skillexec.errors import SkillExecError
from skillexec.task import ExecutionResult, TaskStatus

if TYPE_CHECKING:  # imported where used: `--help` must not pay for them
    from rich.console import Console
    from rich.progress import Progress

    from skillexec.config import EngineConfig
    from skillexec.engine import SkillExecutionEngine

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(name="skillexec", no_args_is_help=True, add_completion=True,
                  pretty_exceptions_enable=False, pretty_exceptions_show_locals=False,
                  help="Run AI-assistant skills: validated, queued, isolated, measured.")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"skillexec {version('skillexec')}")
        except PackageNotFoundError:
            typer.echo("skillexec (version unknown: not installed as a package)")
        raise typer.Exit(0)


@app.callback()
def _options(
    show_version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    """Run AI-assistant skills: validated, queued, isolated, measured."""


def exit_code(result: ExecutionResult) -> int:
    if result.status is TaskStatus.SUCCEEDED:
        return 0
    if result.status is TaskStatus.REJECTED:
        return 2
    if result.error is not None and result.error.code == "no_entry_point":
        return 2  # the entry could not even be found: nothing of the skill ran
    return 1


def parse_params(pairs: list[str], params_file: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if params_file is not None:
        try:
            raw = (sys.stdin.buffer.read() if params_file == "-"
                   else Path(params_file).read_bytes())
        except IsADirectoryError:
            opt.fail(f"--params {params_file}: is a folder, not a JSON file")
        except OSError as exc:
            opt.fail(f"--params {params_file}: cannot be read: {exc.strerror or exc}")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            opt.fail(f"--params {params_file}: not UTF-8 text ({exc.reason} at byte "
                     f"{exc.start})")
        try:
            loaded = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError as exc:
            problem = ("nested more than 254 levels deep" if "depth limit" in str(exc)
                       else str(exc))
            opt.fail(f"--params {params_file}: not valid JSON ({problem})")
        if not isinstance(loaded, dict):
            opt.fail(f"--params {params_file}: expected a JSON object, got "
                     f"{type(loaded).__name__}")
        params.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            opt.fail(f"-p {pair!r}: expected key=value")
        # Values stay strings: the validator coerces them to the schema's types.
        params[key.strip()] = value
    return params


@app.command()
def run(
    skill: Annotated[str, typer.Argument(metavar="SKILL",
                                         help="A skill id, or the path of a skill folder.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p",
                                                    help="key=value (repeatable).")] = None,
    params: Annotated[str | None, typer.Option("--params",
                                               help="A JSON file of parameters, or -.")] = None,
    priority: Annotated[int | None, typer.Option(min=0, max=9)] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per attempt.")] = None,
    deadline: Annotated[float | None, typer.Option(
        help="Seconds for the whole call, every attempt and wait included.")] = None,
    version: Annotated[str | None, typer.Option(help="Semver requirement, e.g. ^1.2")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    skills_dir: opt.SkillsDir = None,
    data_dir: opt.DataDir = None,
    journal_url: opt.JournalUrl = None,
) -> None:
    """Run one skill and print its output."""
    if timeout is not None and not timeout > 0:  # also NaN, which compares false
        opt.fail(f"--timeout {timeout}: must be a number of seconds above 0")
    if deadline is not None and not 0 < deadline < float("inf"):
        opt.fail(f"--deadline {deadline}: must be a number of seconds above 0")
    values = parse_params(param or [], params)

    async def go() -> ExecutionResult:
        engine = opt.engine(skills_dir=skills_dir, data_dir=data_dir, journal_url=journal_url,
                            recover=False).prepare_only(skill)
        async with opt.engine_scope(engine):
            opt.left_notice(engine)
            skill_id = skill
            folder = Path(skill)
            if folder.is_dir() and skill not in engine.skills:
                from skillexec.skills.loader import is_skill_folder, load_skills
                if not is_skill_folder(folder) and load_skills(folder).skills:
                    opt.fail(f"{folder} is a folder of skills, not one skill: pass "
                             f"--skills-dir {folder} and a skill id")
                skill_id = engine.register(folder).id
            return await engine.execute(skill_id, values, priority=priority, timeout=timeout,
                                        deadline=deadline, version=version)

    result = opt.run_async(go())
    if as_json:
        sys.stdout.write(json_text(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2,
                                                default=str).decode()) + "\n")
    elif result.ok:
        out = result.output
        text = out if isinstance(out, str) else orjson.dumps(
            out, option=orjson.OPT_INDENT_2, default=str).decode()
        sys.stdout.write(safe_block(text) + "\n")
        for a in result.artifacts:
            make_console(stderr=True).print(
                f"artifact {cell(a.id)}: {cell(a.name)} ({cell(a.mime)}, {a.size} B)")
    if not result.ok:
        sys.stderr.write(f"skillexec: {result.status.value}: {error_sentence(result)}\n")
    raise typer.Exit(exit_code(result))


_BATCH_KEYS = ("skill", "params", "priority", "timeout", "version", "config")


@dataclass(frozen=True, slots=True)
class _Call:
    """One line of a batch: the call it asks for, or why it cannot be one."""

    line: int
    skill: str
    options: dict[str, Any]
    problem: str = ""


def _parse_line(number: int, text: str) -> _Call:
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
        name = "stdin"
    else:
        path = Path(file)
        if not path.is_file():
            opt.fail(f"{path}: is a folder, not a JSON Lines file" if path.is_dir()
                     else f"no such file: {path}")
        name = str(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            opt.fail(f"{path}: cannot be read: {exc.strerror or exc}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        opt.fail(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})")


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


@app.command()
def batch(
    file: Annotated[str, typer.Argument(
        metavar="FILE.jsonl|-", help="JSON Lines: {skill, params, priority, timeout, version, "
                                     "config} per line; - reads stdin.")],
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


@app.command()
def doctor(as_json: Annotated[bool, typer.Option("--json")] = False,
           data_dir: opt.DataDir = None, journal_url: opt.JournalUrl = None,
           broker_url: worker_cmd.BrokerUrl = None,
           database_url: worker_cmd.DatabaseUrl = None) -> None:
    """What isolation this machine can give, mechanism by mechanism; and the journal.

    With a PostgreSQL journal: whether its database answers and is migrated; with a broker
    (distributed mode): whether the broker and the claims' database answer (exit 1 when
    one of them cannot be reached).
    """
    from rich.table import Table

    from skillexec.runtime.capabilities import doctor_rows

    rows = doctor_rows()
    cfg = opt.config(skills_dir=None, data_dir=data_dir, journal_url=journal_url)
    journal_ok = _journal_rows(rows, cfg)
    distributed = worker_cmd.doctor_rows(worker_cmd.distributed_config(
        cfg, broker_url=broker_url, database_url=database_url))
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


app.command("serve")(serve_cmd.serve)
app.command("script")(script_cmd.script)
app.command("worker")(worker_cmd.worker)
app.command("mcp")(mcp_cmd.mcp)
app.add_typer(skills_cmd.app, name="skills")
app.add_typer(sessions_cmd.app, name="sessions")
app.add_typer(tasks_cmd.app, name="tasks")
app.add_typer(artifacts_cmd.app, name="artifacts")
app.add_typer(metrics_cmd.app, name="metrics")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(audit_cmd.app, name="audit")
report_cmd.app.command("errors")(errors_cmd.errors)
tasks_cmd.app.command("replay")(errors_cmd.replay)
if report_cmd.app.registered_commands:  # the report commands come from their own modules
    app.add_typer(report_cmd.app, name="report")


def _interrupt(signum: int, frame: object) -> None:
    """Ctrl-C or SIGTERM outside a command's event loop (reading stdin, printing): said
    here, since Typer turns the KeyboardInterrupt into a silent exit 130."""
    sys.stderr.write("skillexec: interrupted\n")
    raise KeyboardInterrupt


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    try:
        code = app(standalone_mode=False)
    except KeyboardInterrupt:
        _exit_now(opt.INTERRUPTED)
    except SkillExecError as exc:
        sys.stderr.write(f"skillexec: {exc}\n")
        sys.exit(2)
    except typer.Abort:
        sys.stderr.write("skillexec: aborted\n")
        sys.exit(1)
    except typer.TyperException as exc:  # a usage error: unknown option, bad value, ...
        exit_code = int(getattr(exc, "exit_code", 2))
        if type(exc).__name__ == "NoArgsIsHelpError":
            getattr(exc, "show", lambda: None)()  # no arguments: the help is the answer
            sys.exit(exit_code)
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "skillexec"
        format_message = getattr(exc, "format_message", None)
        text = format_message() if callable(format_message) else str(exc)
        message = " ".join(str(text).split())  # one line
        sys.stderr.write(f"skillexec: {message} (see '{command} --help')\n")
        sys.exit(exit_code)
    except BrokenPipeError:  # `skillexec tasks list | head -1`: the reader has had enough
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except (OSError, sqlite3.Error) as exc:  # the machine refused: a file, a folder, a disk
        sys.stderr.write(f"skillexec: {opt.reason(exc)}\n")
        sys.exit(2)
    except Exception as exc:  # a bug: still one sentence, never a traceback
        sys.stderr.write(f"skillexec: internal error: {type(exc).__name__}: "
                         f"{' '.join(str(exc).split())}\n")
        sys.exit(1)
    code = code if isinstance(code, int) else 0
    if code == opt.INTERRUPTED:
        _exit_now(code)
    sys.exit(code)


def _exit_now(code: int) -> NoReturn:
    """Exit without joining the threads of calls that were cancelled but cannot be stopped
    (a synchronous skill sleeping in the thread pool): their ends are already journaled,
    and an interrupted command must not hang until they return."""
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
