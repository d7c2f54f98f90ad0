"""``skillexec run``: one skill's call, its output printed; and the exit codes every command
that runs a call shares.

Exit codes: 0 the skill succeeded; 1 it failed, timed out or was cancelled; 2 the request
was refused before running (unknown skill, invalid parameters, missing dependency, ...).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from skillexec.cli import options as opt
from skillexec.cli.render import error_sentence, make_console
from skillexec.cli.safe_text import cell, json_text, safe_block, safe_line
from skillexec.errors import ErrorType
from skillexec.task import ExecutionResult, TaskStatus

if TYPE_CHECKING:
    from skillexec.engine import SkillExecutionEngine

__all__ = ["exit_code", "parse_params", "run", "skill_by_id_or_folder", "unnamed_params"]


def exit_code(result: ExecutionResult) -> int:
    if result.status is TaskStatus.SUCCEEDED:
        return 0
    if result.status is TaskStatus.REJECTED:
        return 2
    if result.error is not None and result.error.type is ErrorType.DEPENDENCY:
        # No entry point, a module nothing provides, an entry that will not import: what
        # the user fixes is the install, not the input or the skill's luck (README's exit
        # codes; the HTTP API's 409 DEPENDENCY_CONFLICT).
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
    given: set[str] = set()
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            opt.fail(f"-p {pair!r}: expected key=value")
        key = key.strip()
        if key in given:  # a typo or a pasted line twice: which one was meant is a guess
            opt.fail(f"parameter {key!r} given twice")
        given.add(key)
        # Values stay strings: the validator coerces them to the schema's types; a -p
        # value stands over the --params file's.
        params[key] = value
    return params


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

    hint = ""
    notes: list[str] = []

    async def go() -> ExecutionResult:
        nonlocal hint
        engine = opt.engine(skills_dir=skills_dir, data_dir=data_dir, journal_url=journal_url,
                            recover=False).prepare_only(skill)
        async with opt.engine_scope(engine):
            opt.left_notice(engine)
            skill_id = skill_by_id_or_folder(engine, skill)
            notes.extend(unnamed_params(engine, skill_id, values, version=version))
            result = await engine.execute(skill_id, values, priority=priority,
                                          timeout=timeout, deadline=deadline, version=version)
            if result.error is not None and result.error.code == "no_entry_point":
                hint = _what_it_offers(engine, skill, skill_id)
            hint = hint or opt.no_skills_hint(engine, result)
            return result

    result = opt.run_async(go())
    for note in notes:
        sys.stderr.write(f"note: {safe_line(note)}\n")
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
                f"artifact {cell(a.id)}: {cell(a.name)} ({cell(a.mime)}, {a.size} B)",
                soft_wrap=True)  # one line whatever the width: grep finds it whole
    if not result.ok:
        sys.stderr.write(f"skillexec: {result.status.value}: {error_sentence(result)}"
                         f"{safe_line(hint)}\n")
    raise typer.Exit(exit_code(result))


def skill_by_id_or_folder(engine: SkillExecutionEngine, skill: str) -> str:
    """The id of ``skill``: an id the engine has, or the path of a skill folder, which is
    registered (``run`` and ``script`` take either, as the README's ``SKILL`` says)."""
    folder = Path(skill)
    if skill in engine.skills:
        return skill
    if ("/" in skill or skill.endswith((".py", ".md", ".js", ".sh"))) and folder.is_file():
        # simota's users named a script's file as the skill: "did you mean" was no help.
        opt.fail(f"{skill} is a file, not a skill folder: name the skill (or its folder), "
                 "then the script")
    if not folder.is_dir():
        return skill
    from skillexec.skills.loader import is_skill_folder, load_skills
    if not is_skill_folder(folder) and load_skills(folder).skills:
        opt.fail(opt.not_one_skill(folder))
    return engine.register(folder).id


def _what_it_offers(engine: SkillExecutionEngine, typed: str, skill_id: str) -> str:
    """What a skill with no entry can still be used for (Py Copilot's pdf: 7 scripts and
    instructions), as the commands that do it."""
    found = engine.skills.get(skill_id)
    # The folder the user named (power-platform's root), else the one the skill is in.
    given = engine.config.skills_dir
    parent = given if given is not None else (
        found.path.parent if found.path is not None else None)
    where = "" if parent is None or Path(parent).resolve() == Path("skills").resolve() else \
        f" --skills-dir {shlex.quote(str(parent))}"
    uses = []
    if found.scripts:
        uses.append(f"{len(found.scripts)} script(s): skillexec script {shlex.quote(typed)} "
                    f"{shlex.quote(found.scripts[0])}{where if typed == skill_id else ''}")
    if found.instructions:
        uses.append(f"instructions: skillexec skills show {skill_id} --instructions{where}")
    return f"; it offers {' and '.join(uses)}" if uses else ""


def unnamed_params(engine: SkillExecutionEngine, skill_id: str, values: dict[str, Any], *,
                    version: str | None) -> list[str]:
    """The parameters given that the skill's schema does not name, where it names some and
    says nothing of others: valid JSON Schema, so the call runs, but a typo (``precison``)
    left the skill on its default without a word. An explicit ``additionalProperties``
    (true or a schema) means the skill takes other keys: nothing is said then."""
    import difflib

    from skillexec.errors import SkillExecError
    try:
        found = engine.skills.get(skill_id, version)
    except SkillExecError:
        return []  # the call is refused, and says why
    schema = found.parameters_schema
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict) or not props or "additionalProperties" in schema \
            or "patternProperties" in schema:
        return []
    notes = []
    for key in values:
        if key in props:
            continue
        close = difflib.get_close_matches(key, [str(p) for p in props], n=1, cutoff=0.6)
        guess = f" (did you mean {close[0]!r}?)" if close else \
            f" (its parameters: {', '.join(map(str, props))})"
        notes.append(f"{key!r} is not one of the parameters of skill {found.id!r}{guess}; "
                     "it was passed on as given")
    return notes
