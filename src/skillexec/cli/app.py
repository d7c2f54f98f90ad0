"""``skillexec run | batch``, and the command groups.

Exit codes: 0 the skill succeeded; 1 it failed, timed out or was cancelled; 2 the request
was refused before running (unknown skill, invalid parameters, missing dependency, ...).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from skillexec.cli import (
    artifacts_cmd,
    errors_cmd,
    metrics_cmd,
    report_cmd,
    skills_cmd,
    tasks_cmd,
)
from skillexec.cli import options as opt
from skillexec.cli.render import (
    error_sentence,
    make_console,
    metrics_table,
    results_table,
)
from skillexec.cli.safe_text import cell, json_text, safe_block
from skillexec.engine import SkillExecutionEngine
from skillexec.errors import SkillExecError
from skillexec.skills.loader import is_skill_folder, load_skills
from skillexec.task import ExecutionResult, TaskStatus

__all__ = ["app", "main"]

app = typer.Typer(name="skillexec", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False,
                  help="Run AI-assistant skills: validated, queued, isolated, measured.")


def exit_code(result: ExecutionResult) -> int:
    if result.status is TaskStatus.SUCCEEDED:
        return 0
    if result.status is TaskStatus.REJECTED:
        return 2
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
    skill: Annotated[str, typer.Argument(help="A skill id, or the path of a skill folder.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p",
                                                    help="key=value (repeatable).")] = None,
    params: Annotated[str | None, typer.Option("--params",
                                               help="A JSON file of parameters, or -.")] = None,
    priority: Annotated[int | None, typer.Option(min=0, max=9)] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per attempt.")] = None,
    version: Annotated[str | None, typer.Option(help="Semver requirement, e.g. ^1.2")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    skills_dir: opt.SkillsDir = None,
    data_dir: opt.DataDir = None,
) -> None:
    """Run one skill and print its output."""
    if timeout is not None and not timeout > 0:  # also NaN, which compares false
        opt.fail(f"--timeout {timeout}: must be a number of seconds above 0")
    values = parse_params(param or [], params)

    async def go() -> ExecutionResult:
        engine = opt.engine(skills_dir=skills_dir, data_dir=data_dir)
        async with engine:
            skill_id = skill
            folder = Path(skill)
            if folder.is_dir() and skill not in engine.skills:
                if not is_skill_folder(folder) and load_skills(folder).skills:
                    opt.fail(f"{folder} is a folder of skills, not one skill: pass "
                             f"--skills-dir {folder} and a skill id")
                skill_id = engine.register(folder).id
            return await engine.execute(skill_id, values, priority=priority, timeout=timeout,
                                        version=version)

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


@app.command()
def batch(
    file: Annotated[Path, typer.Argument(help="JSON Lines: {skill, params, priority, ...}.")],
    concurrency: Annotated[int, typer.Option(min=1, help="Calls in flight at once.")] = 16,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON lines.")] = False,
    strict: Annotated[bool, typer.Option(help="Exit 1 if any task did not succeed.")] = False,
    skills_dir: opt.SkillsDir = None,
    data_dir: opt.DataDir = None,
) -> None:
    """Run every call in a JSON Lines file, with a progress bar and a summary."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not file.is_file():
        opt.fail(f"{file}: is a folder, not a JSON Lines file" if file.is_dir()
                 else f"no such file: {file}")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        opt.fail(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        opt.fail(f"{file}: cannot be read: {exc.strerror or exc}")
    lines = [(n, ln) for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    console = make_console(stderr=as_json)

    async def go() -> tuple[list[tuple[int, str, ExecutionResult]], float]:
        engine = opt.engine(skills_dir=skills_dir, data_dir=data_dir, concurrency=concurrency)
        rows: list[tuple[int, str, ExecutionResult]] = []
        async with engine:
            sem = asyncio.Semaphore(concurrency)
            progress = Progress(TextColumn("[bold]running"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=console, transient=False)
            started = time.perf_counter()
            with progress:
                bar = progress.add_task("batch", total=len(lines))

                async def one(number: int, text: str) -> None:
                    async with sem:
                        skill_id, result = await _batch_call(engine, number, text)
                    rows.append((number, skill_id, result))
                    progress.advance(bar)

                await asyncio.gather(*(one(n, t) for n, t in lines))
            return sorted(rows, key=lambda r: r[0]), time.perf_counter() - started

    rows, elapsed = opt.run_async(go())
    if as_json:
        for _, _, r in rows:
            sys.stdout.write(json_text(orjson.dumps(r.to_dict(), default=str).decode()) + "\n")
    else:
        console.print(results_table(rows, title=f"{file.name}: {len(rows)} calls"))
    console.print(metrics_table([r for _, _, r in rows], elapsed))
    if strict and any(not r.ok for _, _, r in rows):
        raise typer.Exit(1)


async def _batch_call(engine: SkillExecutionEngine, number: int,
                      text: str) -> tuple[str, ExecutionResult]:
    from skillexec.errors import ParameterError

    try:
        spec = orjson.loads(text)
        if not isinstance(spec, dict) or not isinstance(spec.get("skill"), str):
            raise ValueError("each line must be an object with a string 'skill'")
    except (orjson.JSONDecodeError, ValueError) as exc:
        err = ParameterError(f"line {number}: {exc}", code="invalid_batch_line")
        return "?", ExecutionResult(task_id="-", skill_id="?", skill_version="",
                                    status=TaskStatus.REJECTED, error=err.info,
                                    created_at=time.time())
    options = {k: spec[k] for k in ("priority", "timeout", "version", "config") if k in spec}
    result = await engine.execute(spec["skill"], spec.get("params") or {}, **options)
    return spec["skill"], result


@app.command()
def doctor(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """What isolation this machine can give, mechanism by mechanism."""
    from rich.table import Table

    from skillexec.runtime.capabilities import doctor_rows

    rows = doctor_rows()
    if as_json:
        sys.stdout.write(orjson.dumps(rows).decode() + "\n")
        return
    console = make_console()
    for section, title in (("kernel", "mechanisms"), ("level", "isolation levels")):
        table = Table(title=title, expand=True)
        table.add_column("", no_wrap=True)
        table.add_column("name", no_wrap=True)
        table.add_column("what it gives here", overflow="fold", ratio=1)
        for r in rows:
            if r["section"] == section:
                mark = "[green]yes[/green]" if r["available"] else "[red]no[/red]"
                table.add_row(mark, str(r["mechanism"]), str(r["detail"]))
        console.print(table)


app.add_typer(skills_cmd.app, name="skills")
app.add_typer(tasks_cmd.app, name="tasks")
app.add_typer(artifacts_cmd.app, name="artifacts")
app.add_typer(metrics_cmd.app, name="metrics")
report_cmd.app.command("errors")(errors_cmd.errors)
tasks_cmd.app.command("replay")(errors_cmd.replay)
if report_cmd.app.registered_commands:  # the report commands come from their own modules
    app.add_typer(report_cmd.app, name="report")


def main() -> None:
    try:
        code = app(standalone_mode=False)
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
    sys.exit(code if isinstance(code, int) else 0)
