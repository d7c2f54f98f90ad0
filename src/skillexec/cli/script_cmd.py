"""``skillexec script SKILL SCRIPT [ARG]...``: run one of a skill's bundled scripts.

Exit codes: 0 the script exited 0; the script's own code where it ran and exited with
another (``script_exit``: a scanner's 2 for "blocked", argparse's 2, are what a plain run
gives the caller's ``$?``); 1 it timed out, was cancelled or died of a signal; 2 the call
was refused before running (unknown skill or session, a script or a file outside its
folder); 130 interrupted.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import orjson
import typer

from skillexec.cli import options as opt
from skillexec.cli.artifacts_out import check_out_dir, write_back
from skillexec.cli.render import error_sentence, make_console
from skillexec.cli.safe_text import cell, json_text, safe_block, safe_line
from skillexec.cli.script_args import hidden_paths, to_workspace
from skillexec.cli.script_files import read_files
from skillexec.task import ExecutionResult

if TYPE_CHECKING:
    from skillexec.engine import SkillExecutionEngine

__all__ = ["ScriptCommand", "script"]

_ENDED_S = 30.0  # cancel_all returns once the end is journaled: a bound, not a wait


# What each option of ``script`` takes, as its refusal says it.
_WANTS = {"session": "a session id", "file": "a PATH or DEST=PATH", "stdin": "a file, or -",
          "env": "NAME=VALUE", "priority": "a priority from 0 to 9",
          "timeout": "a number of seconds", "skills_dir": "a folder", "data_dir": "a folder",
          "journal_url": "a journal URL"}


class ScriptCommand(typer.core.TyperCommand):
    """``script``'s parser, which refuses an option given where another option's value
    goes: ``--session $SID --skills-dir DIR`` with ``$SID`` empty took ``--skills-dir`` as the
    session id, and the call then said "no skills folder"."""

    # ctx: the Context of the click that Typer vendors, a private module: not named here
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        options = {name: p for p in self.get_params(ctx) if isinstance(p, typer.core.TyperOption)
                   for name in (*p.opts, *p.secondary_opts)}
        at = 0
        while at < len(args) - 1 and args[at] != "--":
            option = options.get(args[at])
            if option is None or option.is_flag or option.count:
                at += 1
                continue
            value, name = args[at + 1], args[at + 1].split("=", 1)[0]
            # No value of these starts with "--" (a file so named is ./--name), nor is one
            # of this command's options ("-f"); "-" is stdin, "-1" a number refused later.
            if value.startswith("--") or name in options:
                wants = _WANTS.get(option.name or "", "a value")
                got = ("--, which ends skillexec's own options" if value == "--"
                       else f"the option {name}" if name in options
                       else f"{name}, an option")
                opt.fail(f"{args[at]} needs {wants} (got {got}); an empty shell variable, "
                         "unquoted, leaves an option without its value")
            at += 2
        return super().parse_args(ctx, args)


def script(
    skill: Annotated[str, typer.Argument(
        metavar="SKILL", help="A skill id, or the path of a skill folder.")],
    path: Annotated[str, typer.Argument(metavar="SCRIPT",
                                        help="The script, relative to the skill's folder.")],
    args: Annotated[list[str] | None, typer.Argument(
        metavar="ARG", help="Passed to the script as they are (after -- if an "
        "argument starts with -).")] = None,
    file: Annotated[list[str] | None, typer.Option(
        "--file", "-f", help="A file for its workspace: PATH (at that relative path, "
        "or under its name if outside this folder; . puts this folder's files at the top) "
        "or DEST=PATH (repeatable); a folder is copied as cp -a would (execute bits, "
        "times, empty folders, links inside it), but for .git, node_modules, .venv and "
        "__pycache__ (a note names them and the -f that sends them).")] = None,
    session: Annotated[str | None, typer.Option(
        help="Run in this session's workspace (skillexec sessions create opens one).")]
    = None,
    stdin: Annotated[str | None, typer.Option(
        help="A file for the script's stdin, or - for this command's (else it is empty).")]
    = None,
    env: Annotated[list[str] | None, typer.Option(
        "--env", "-e", metavar="NAME=VALUE", help="An environment variable for the script "
        "(repeatable; secrets go in [security] skill_secrets).")] = None,
    priority: Annotated[int | None, typer.Option(min=0, max=9)] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="DIR", help="Write the files the script made or changed into DIR, "
        "at their paths in its workspace (--out . edits -f files in place).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    skills_dir: opt.SkillsDir = None,
    data_dir: opt.DataDir = None,
    journal_url: opt.JournalUrl = None,
) -> None:
    """Run one of a skill's bundled scripts; print what it printed."""
    if timeout is not None and not timeout > 0:
        opt.fail(f"--timeout {timeout}: must be a number of seconds above 0")
    files, sources = read_files(file or [])
    sent = set(sources)
    script_args, mapped = to_workspace(args or [], sources=sources)
    for note in mapped:
        sys.stderr.write(f"note: {note}\n")
    variables: dict[str, str] = {}
    for pair in env or []:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            opt.fail(f"--env {pair}: give NAME=VALUE")
        variables[name] = value
    data: bytes | None = None
    if stdin is not None:
        try:
            data = sys.stdin.buffer.read() if stdin == "-" else Path(stdin).read_bytes()
        except OSError as exc:
            opt.fail(f"--stdin {stdin}: cannot be read: {exc.strerror or exc}")

    if out is not None:
        check_out_dir(out, option="--out")
    hint = ""
    seen: list[str] | None = None
    wrote: tuple[list[str], list[str]] = ([], [])

    async def go() -> ExecutionResult:
        nonlocal hint, seen, wrote
        engine = opt.engine(skills_dir=skills_dir, data_dir=data_dir, recover=False,
                            journal_url=journal_url, one_call=True).prepare_only(skill)
        async with opt.engine_scope(engine):
            from skillexec.cli.run_cmd import skill_by_id_or_folder
            # Submitted, then waited for: on Ctrl-C its id says whose end to print.
            skill_id = skill_by_id_or_folder(engine, skill)
            seen = _seen(engine, skill_id)
            task_id = await engine.submit_script(
                skill_id, path, args=script_args,
                files=files, stdin=data, session=session, timeout=timeout, priority=priority,
                env=variables)
            try:
                result = await engine.wait(task_id)
            except asyncio.CancelledError:
                if not as_json:
                    await _print_cancelled(engine, task_id)
                raise
            hint = opt.no_skills_hint(engine, result) or _session_hint(
                result, engine.config.data_dir)
            if out is not None:  # failed too: a plain run leaves what it wrote
                wrote = await write_back(out, [(a.id, a.name) for a in result.artifacts],
                                         engine.artifacts.read)
            return result

    result = opt.run_async(go())
    if as_json:
        sys.stdout.write(json_text(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2,
                                                default=str).decode()) + "\n")
    else:
        _print_streams(result)
        for a in result.artifacts:
            make_console(stderr=True).print(
                f"artifact {cell(a.id)}: {cell(a.name)} ({cell(a.mime)}, {a.size} B)",
                soft_wrap=True)  # one line whatever the width: grep finds it whole
    for name in wrote[0]:
        sys.stderr.write(safe_line(f"wrote {out / name if out else name}") + "\n")
    for note in wrote[1]:
        sys.stderr.write(f"note: {note}\n")
    # Success too: a scan of a folder it cannot see walks nothing and says "clean".
    hidden = hidden_paths(script_args, seen=seen) if result.attempts else {}
    if not result.ok:
        sys.stderr.write(f"skillexec: {result.status.value}: {error_sentence(result)}"
                         f"{hint}\n")
        if session is None and result.attempts:  # it ran: it may have looked for them
            streams = result.error.details if result.error else {}
            said = f"{streams.get('stderr') or ''}{streams.get('stdout') or ''}"
            unsent = _unsent_files(script_args, sent=sent, files=files, said=said)
            hidden = {a: n for a, n in hidden.items() if a not in unsent} | unsent
    for note in hidden.values():
        sys.stderr.write(f"note: {note}\n")
    if stdin is None and result.attempts:
        from skillexec.cli.stdin_unsent import stdin_holds_data
        if stdin_holds_data():  # asked once it ran: a slow producer has written by then
            sys.stderr.write("note: stdin holds data that was not sent to the script (its "
                             "stdin was empty): send it with --stdin -\n")
    raise typer.Exit(_exit_code(result))


def _exit_code(result: ExecutionResult) -> int:
    """The script's own nonzero exit code where it ran and ended by exiting (a hook's 2
    means "block", a scanner's 2 "findings": it became 1), else ``run``'s code."""
    details = result.error.details if result.error is not None else None
    code = details.get("exit_code") if isinstance(details, dict) else None
    if result.error is not None and result.error.code == "script_exit" \
            and isinstance(code, int) and not isinstance(code, bool) and 0 < code < 256:
        return code
    from skillexec.cli.run_cmd import exit_code
    return exit_code(result)



def _seen(engine: SkillExecutionEngine, skill_id: str) -> list[str] | None:
    """The folders of this machine a script of ``skill_id`` sees besides the system's (its
    skill's, and those granted to read), or None where it is not sandboxed (or unknown:
    the refusal says that)."""
    from skillexec.errors import SkillExecError
    from skillexec.skills.model import Isolation
    try:
        found = engine.skills.get(skill_id)
        if engine.config.isolation_policy().isolation(found) is not Isolation.SANDBOX:
            return None
    except SkillExecError:
        return None
    folder = [str(found.path)] if found.path is not None else []
    return [*folder, *(str(p) for p in engine.config.permissions.file_read_paths)]


def _session_hint(result: ExecutionResult, data_dir: Path) -> str:
    """How a session is had, where the one named is not (``--session s1``), and where
    they are kept (one opened in another folder is in that folder's data dir)."""
    if result.error is None or result.error.code not in ("invalid_session_id",
                                                          "session_not_found"):
        return ""
    where = ("; sessions are kept in the data dir, here "
             f"{shlex.quote(str(data_dir))} (one opened elsewhere: pass its --data-dir)"
             if result.error.code == "session_not_found" else "")
    return f"{where}; open one with: skillexec sessions create"


def _print_streams(result: ExecutionResult) -> None:
    """What the script printed, each stream where it went (a failed or cancelled script's
    are in its error's details)."""
    streams = result.output if result.ok else (result.error.details if result.error else {})
    if isinstance(streams, dict):
        if streams.get("stdout"):
            tty = sys.stdout.isatty()
            out = str(streams["stdout"])
            # A failure's sentence follows on stderr: on a terminal it began on the line a
            # cut-off output left open ("...yyyyskillexec: failed: ...").
            end = "\n" if not result.ok and not out.endswith("\n") and tty else ""
            _write(sys.stdout, out + end, tty=tty)
        if streams.get("stderr"):
            _write(sys.stderr, str(streams["stderr"]), tty=sys.stderr.isatty())


def _write(stream: TextIO, text: str, *, tty: bool) -> None:
    """``text`` made safe for a terminal, or where the stream goes to a pipe or a file,
    exactly as the script printed it (as ``artifacts get`` does): escaped, a CSV's CRLF
    became the text ``\\u000d`` in ``> out.csv`` and a ``| less -R`` lost its colours. UTF-8
    whatever the locale: it is what the engine decoded the script's bytes as."""
    if tty:
        stream.write(safe_block(text))
        return
    raw = getattr(stream, "buffer", None)  # None: a stream of text only (a test's)
    if raw is None:
        stream.write(text)
        return
    stream.flush()  # what went through the text layer first stays first
    raw.write(text.encode("utf-8", "surrogatepass"))  # never refuses a character
    raw.flush()


async def _print_cancelled(engine: SkillExecutionEngine, task_id: str) -> None:
    """Interrupted: end the script (after the grace engine_scope would give it), then print
    what it had printed, kept in its cancelled result, before the command says
    "interrupted"."""
    await engine.cancel_all(grace_s=engine.config.interrupt_grace_s)
    try:
        ended = await asyncio.wait_for(engine.wait(task_id), _ENDED_S)
    except (asyncio.CancelledError, TimeoutError):
        return  # interrupted again, or it did not end: "interrupted" alone, as before
    _print_streams(ended)


def _unsent_files(args: list[str], *, sent: set[str], files: Mapping[str, object],
                  said: str) -> dict[str, str]:
    """The arguments that name a file here that ``-f`` did not send, where what the script
    printed names them (``said``: a failure over a missing option is not the file's). The
    script runs in a workspace of its own: a new user's first call names the file beside
    them, and the script's own error (FileNotFoundError) does not say why it is not there.
    ``sent``: the destinations ``-f`` gave (``.`` too, which no file's path shows)."""
    given = sent | {posixpath.normpath(dest) for dest in files}
    notes: dict[str, str] = {}  # the argument -> its note
    for arg in args:
        rel = posixpath.normpath(arg)
        if arg.startswith("-") or rel in given or Path(arg).name not in said:
            continue
        try:
            here = "file" if Path(arg).is_file() else "folder" if Path(arg).is_dir() else ""
        except (OSError, ValueError):
            continue
        if not here or (here == "folder" and any(g.startswith(rel + "/") for g in given)):
            continue
        name = Path(arg).name
        if name in given and rel != name:  # sent, at its name (UiPath's tasks/tasks.md)
            notes[arg] = safe_line(f"-f {arg} put it at {name} in the script's workspace: "
                                   f"give it as {name}, or send it with -f {rel}={arg}")
            continue
        if os.path.isabs(arg) or rel.startswith(".."):  # -f PATH puts it at its name
            add = f"-f {arg} and give it as {name}"
        else:
            add = f"-f {arg}" if rel in (name, ".") else f"-f {rel}={arg}"
        notes[arg] = safe_line(f"{arg} is a {here} here, but the script runs in a workspace "
                               f"of its own that holds only what -f sends: add {add}")
    return notes
