"""The ``skillexec`` command tree, and ``main``: every error one sentence on stderr.

Each command lives in a module named for it (``run_cmd``, ``batch_cmd``, ``doctor_cmd``,
``script_cmd``, ...; command groups in theirs); this one puts them in order on the app (the
order ``--help`` lists them) and turns what escapes a command into an exit code.
"""

from __future__ import annotations

import re
import shlex
import signal
import sqlite3
import sys
from typing import Annotated, Any, NoReturn

import typer

from skillexec.cli import (
    artifacts_cmd,
    audit_cmd,
    batch_cmd,
    doctor_cmd,
    errors_cmd,
    keys_cmd,
    mcp_cmd,
    metrics_cmd,
    report_cmd,
    run_cmd,
    script_cmd,
    serve_cmd,
    sessions_cmd,
    skills_cmd,
    tasks_cmd,
    worker_cmd,
)
from skillexec.cli import options as opt
from skillexec.cli.run_cmd import exit_code
from skillexec.cli.safe_text import safe_line
from skillexec.errors import SkillExecError

__all__ = ["app", "exit_code", "main"]

app = typer.Typer(name="skillexec", no_args_is_help=True, add_completion=True,
                  pretty_exceptions_enable=False, pretty_exceptions_show_locals=False,
                  help="Run AI-assistant skills: validated, queued, isolated, measured.")


def _flags_take_no_value() -> None:
    """Typer's rich help shows a flag's type, ``--json <bool>``, as if it took a value
    (``--json true`` is then "unexpected extra argument"); its plain help does not."""
    option: Any = getattr(typer.core, "TyperOption", None)
    shown = getattr(option, "display_type_rich", None)
    if shown is None:
        return

    def display_type_rich(self: Any, ctx: Any) -> Any:
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    option.display_type_rich = display_type_rich


_flags_take_no_value()


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


app.command("run")(run_cmd.run)
app.command("batch")(batch_cmd.batch)
app.command("doctor")(doctor_cmd.doctor)
app.command("serve")(serve_cmd.serve)
app.command("script", cls=script_cmd.ScriptCommand)(script_cmd.script)
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


# Options every command that reads skills or the journal takes, each after its command
# (the first thing a user tries is often `skillexec --skills-dir DIR skills list`): whether
# each takes a value.
_AFTER_THE_COMMAND = {"--skills-dir": True, "--data-dir": True, "--journal-url": True,
                      "--json": False}


def _moved(args: list[str], option: str) -> str:
    """``args`` as they should have been typed: ``option`` (and its value) after the command."""
    at = next((i for i, a in enumerate(args) if a.split("=", 1)[0] == option), None)
    if at is None:
        return f"skillexec COMMAND {option}"
    takes = _AFTER_THE_COMMAND[option] and "=" not in args[at]
    moved = args[at:at + 1 + takes]
    rest = args[:at] + args[at + 1 + takes:]
    # Right after the (sub)command's words: at the end it followed a script's -- (and went
    # to the script) or its own options (No such option: --out).
    words = len(_command_words(rest))
    return safe_line(shlex.join(["skillexec", *rest[:words], *moved, *rest[words:]]))


def _command_words(args: list[str]) -> list[str]:
    """The (sub)commands named in ``args``: the parser raises some usage errors (an option
    missing its value) before the command's context exists, and the help to point at is
    still that command's."""
    command: object = typer.main.get_command(app)
    words: list[str] = []
    for arg in args:
        if arg.startswith("-"):
            continue
        sub = getattr(command, "commands", {}).get(arg)  # a group's subcommands
        if sub is None:
            break
        words.append(arg)
        command = sub
    return words


def _interrupt(signum: int, frame: object) -> None:
    """Ctrl-C or SIGTERM outside a command's event loop (reading stdin, printing): said
    here, since Typer turns the KeyboardInterrupt into a silent exit 130."""
    sys.stderr.write("skillexec: interrupted\n")
    raise KeyboardInterrupt


# Options that name one thing, given twice: the last one alone was read, unsaid (an
# integrator's two --skills-dir served one folder).
_ONCE = ("--skills-dir", "--data-dir", "--journal-url", "--session", "--database-url",
         "--broker-url")


def _given_twice(argv: list[str]) -> str | None:
    own = argv[:argv.index("--")] if "--" in argv else argv
    seen = [a.split("=", 1)[0] for a in own if a.split("=", 1)[0] in _ONCE]
    twice = next((a for a in seen if seen.count(a) > 1), None)
    if twice is None:
        return None
    return (f"{twice} is given twice: skillexec reads one"
            + (" skills folder (put the skills of both in one, or serve each with its own "
               "engine)" if twice == "--skills-dir" else ""))


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    if (twice := _given_twice(sys.argv[1:])) is not None:
        sys.stderr.write(f"skillexec: {twice}\n")
        sys.exit(2)
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
        words = _command_words(sys.argv[1:]) if ctx is None else []
        command = ctx.command_path if ctx is not None else shlex.join(["skillexec", *words])
        format_message = getattr(exc, "format_message", None)
        text = format_message() if callable(format_message) else str(exc)
        # one line, without pydantic's "Value error, " (Typer converts values with it)
        message = " ".join(str(text).split()).replace(": Value error, ", ": ")
        option = str(getattr(exc, "option_name", "") or "")
        top = not words if ctx is None else getattr(ctx, "parent", None) is None
        if top and option in _AFTER_THE_COMMAND:  # `skillexec --json tasks list`
            message = f"{option} goes after the command: {_moved(sys.argv[1:], option)}"
        elif (getattr(ctx, "info_name", None) == "script"
              and type(exc).__name__ == "NoSuchOption"):
            # `script skill-creator scripts/init_skill.py NAME --path out`: the option was
            # the script's (most bundled scripts take flags), which only `--` hands over;
            # click's guess among skillexec's own ("--batch-id": "--data-dir") misleads.
            message = re.sub(r" \(Possible options?: [^)]*\)", "", message)
            message += ("; a script's own options go after --: skillexec script SKILL SCRIPT "
                        "[--session ID ...] -- ARG...")
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
