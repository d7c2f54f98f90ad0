"""``skillexec skills list | show | validate | init`` (``check`` and ``install`` are in
:mod:`skillexec.cli.skills_env_cmd`)."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.table import Table

from skillexec.cli import options as opt
from skillexec.cli.output import print_table
from skillexec.cli.render import make_console, short
from skillexec.cli.safe_text import cell, json_text, safe_block, safe_line
from skillexec.cli.skills_env_text import npm_column, npm_said
from skillexec.errors import SkillExecError

if TYPE_CHECKING:  # imported where used: `--help` must not pay for them
    from skillexec.config import EngineConfig
    from skillexec.environments.manager import EnvironmentManager, EnvStatus
    from skillexec.security.isolation_policy import IsolationPolicy
    from skillexec.skills.model import Skill
    from skillexec.skills.registry import SkillRegistry

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Find, inspect, check and create skills.")


def _registry(skills_dir: Path | None, *, folder: Path | None = None) -> SkillRegistry:
    """The skills of the skills folder (or of ``folder`` alone), as the engine has them."""
    cfg = opt.config(skills_dir=skills_dir, data_dir=None)
    where = folder or cfg.skills_dir
    if where is None:
        opt.fail(f"no skills folder (no --skills-dir, SKILLEXEC_SKILLS_DIR or ./skills here): "
                 f"{opt.skills_dir_hint()}")
    from skillexec.skills.overrides import override_entry
    from skillexec.skills.registry import SkillRegistry
    registry = SkillRegistry(private=(cfg.data_dir,))
    registry.load_dir(where, strict=cfg.strict_manifests)
    for skill in registry.list():  # as the engine runs them: the operator's entries
        entry = cfg.skills[skill.id].entry if skill.id in cfg.skills else None
        if entry and skill.path is not None:
            registry.add(override_entry(skill, entry))
    return registry


def _not_a_skill(folder: Path) -> str:
    """Why ``folder`` is no skill: its skill.md in lower case is named (X-Skills)."""
    if (folder / "skill.md").is_file():
        return (f"{folder / 'skill.md'}: the file must be named SKILL.md (Agent Skills and "
                "Claude Code read that name alone)")
    return f"{folder}: no skill.json, skill.yaml or SKILL.md"


def find_skill(skill_id: str, skills_dir: Path | None) -> tuple[SkillRegistry, Skill]:
    """The skill ``skill_id`` names, and the registry it is in: an id of the skills folder,
    or the path of one skill's folder (``run`` and ``script`` take either); one sentence
    and exit 2 when neither."""
    from skillexec.skills.loader import is_skill_folder
    has_folder = opt.config(skills_dir=skills_dir, data_dir=None).skills_dir is not None
    folder = Path(skill_id)
    # A path ("./pdf", "vendor/pdf") is no id: the skills folder is not loaded for it
    # (tomevault's 61,452 skills: 100 s and 0.8 GB before one skill's `show`). A bare
    # name that is both is the id, as before.
    as_path = ("/" in skill_id or skill_id.startswith(".")) and folder.is_dir()
    registry = _registry(skills_dir) if has_folder and not as_path else None
    if registry is not None and skill_id in registry:
        return registry, registry.get(skill_id)
    if folder.is_dir():
        alone = _registry(skills_dir, folder=folder)
        found = alone.list()
        if not is_skill_folder(folder):
            opt.fail(opt.not_one_skill(folder) if found else _not_a_skill(folder))
        # The folder's own skill, not the first by id of those below it (a router's
        # leaves load with it: skills show of router zeta showed its leaf alpha).
        own = [s for s in found if s.path is not None and s.path.resolve() == folder.resolve()]
        if not own:  # it did not load: why
            why = [p.reason for p in alone.problems if p.path.resolve() == folder.resolve()]
            opt.fail(why[0] if why else alone.problems[0].reason if alone.problems
                     else f"{folder}: not loaded")
        return alone, own[0]
    registry = registry or _registry(skills_dir)  # with no skills folder, it says so
    try:
        return registry, registry.get(skill_id)
    except SkillExecError as exc:
        opt.fail(str(exc))


def environments(cfg: EngineConfig) -> EnvironmentManager:
    return cfg.environments.manager(cfg.data_dir)


def _entry(skill: Skill, *, reason: bool = True) -> str:
    """The entry as plain text (JSON output); ``reason=False`` leaves out why there is none."""
    e = skill.entry
    if e.command:
        return " ".join(e.command)
    if e.file is not None:
        return f"{e.file.name}:{e.attr or '(discovered)'}"
    if e.func is not None:
        return getattr(e.func, "__qualname__", "function")
    return f"none ({e.reason})" if e.reason and reason else "none"


# Py Copilot names each folder as a package of its host (app.skills.skills.<folder>): the
# reasons of its folders differ only there, and share one line below the table.
_NAMED_AT_MOST = 10  # skills that share a reason for no entry, named on its line
_PACKAGE_PATH = re.compile(r"'app\.skills\.skills\.[^'\s]*'")
_ANY_FOLDER = "'app.skills.skills.<folder>'"


@app.command("list")
def list_(search: Annotated[str | None, typer.Argument(
              metavar="TEXT", help="Only the skills whose id, name or description holds "
              "it (in any case).")] = None,
          skills_dir: opt.SkillsDir = None, data_dir: opt.DataDir = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False
          ) -> None:
    """Every skill in the folder, and every folder that could not be loaded, with why.

    For each: what it offers (an entry, scripts, instructions) and its environment."""
    registry = _registry(skills_dir)
    skills = registry.list(search)
    cfg = opt.config(skills_dir=skills_dir, data_dir=data_dir)
    policy, envs = cfg.isolation_policy(), environments(cfg)
    states = {s.key: envs.status(s) for s in skills}
    if as_json:
        typer.echo(json_text(orjson.dumps([
            {**_summary(s), "runs_as": _runs_as(policy, s),
             "environment": states[s.key].to_dict()} for s in skills]).decode()))
        for problem in () if search else registry.problems:  # stdout stays the JSON
            typer.echo(f"skillexec: not loaded: {safe_line(problem.reason)}", err=True)
        if loose := _loose_note(registry, cfg.skills_dir, search):
            typer.echo(f"skillexec: note: {safe_line(loose)}", err=True)
        return
    console = make_console()
    if search and not skills:
        console.print(f"no skill's id, name or description holds {cell(search)!r} (of the "
                      f"{len(registry)} skills)", soft_wrap=True)
        return
    table = Table(title=f"{len(skills)} skills" if not search
                  else f"{len(skills)} of {len(registry)} skills hold {cell(search)!r}")
    for col in ("id", "version", "format", "isolation", "offers"):
        table.add_column(col, no_wrap=True)  # an id is copied whole into the next command
    for col in ("environment", "entry", "description"):
        table.add_column(col, overflow="fold")
    undeclared = {s.key for s in skills if _none_declared(s, states[s.key])}
    for s in skills:
        entry = cell(_entry(s, reason=False))
        env = states[s.key]
        table.add_row(cell(s.id), cell(s.version), cell(s.source),
                      _runs_as(policy, s), cell(s.offers),
                      # (why, below the table: a 450-character reason widened every row)
                      "[red]failed[/red]" if env.state == "failed" else
                      npm_column(env.to_dict(), "none declared" if s.key in undeclared
                                 else cell(env.state)),
                      entry if s.runnable else f"[dim]{entry}[/dim]",
                      cell(short(s.description or "", 40)))
    print_table(table, console=console)
    # Below the table, where a long reason stays readable; once for the skills that share
    # it (a folder of Agent Skills gives each the same sentence).
    no_entry: dict[str, list[Skill]] = {}
    for s in skills:
        if not s.runnable and s.offers != "nothing":  # valid: instructions or scripts only
            no_entry.setdefault(_PACKAGE_PATH.sub(_ANY_FOLDER, s.entry.reason), []).append(s)
    for reason, same in no_entry.items():
        if len(same) == 1:
            console.print(f"[dim]no entry[/dim] ({cell(same[0].offers)}) {cell(same[0].id)}: "
                          f"{cell(same[0].entry.reason)}", soft_wrap=True)
        elif len(same) <= _NAMED_AT_MOST:
            ids = ", ".join(cell(s.id) for s in same)  # what each offers: the table says
            console.print(f"[dim]no entry[/dim] {ids}: {cell(reason)}", soft_wrap=True)
        else:  # a folder of Agent Skills: a line of 160 ids says nothing the table does not
            which = "every skill listed" if len(same) == len(skills) else \
                f"{len(same)} of the {len(skills)} skills; the entry column shows which"
            console.print(f"[dim]no entry[/dim] ({which}): {cell(reason)}", soft_wrap=True)
    if no_entry:  # what a user can do with them all the same
        console.print("[dim]a skill with no entry still serves its instructions (skillexec "
                      "skills show ID --instructions) and runs its scripts (skillexec script "
                      "ID SCRIPT [ARG...])[/dim]", soft_wrap=True)
    for s in skills:  # nothing here installs them (skills show ID words it the same)
        if (npm := states[s.key].npm) is not None and not npm.installed:
            console.print(f"[yellow]npm not installed[/yellow] {cell(s.id)}: "
                          f"{npm_said(npm.to_dict(), lead=False)}", soft_wrap=True)
    if undeclared:  # as skills show says it: nothing here says whether its imports resolve
        console.print("[dim]none declared[/dim]: a skill that runs code and declares no "
                      "packages (skillexec skills check ID lists what its code imports that "
                      "nothing provides)", soft_wrap=True)
    for s in skills:
        if not s.runnable and s.offers == "nothing":
            console.print(f"[yellow]not runnable[/yellow] {cell(s.id)}: {cell(s.entry.reason)}",
                          soft_wrap=True)
        if states[s.key].state == "failed":
            console.print(f"[red]environment failed[/red] {cell(s.id)}: "
                          f"{cell(states[s.key].reason)}", soft_wrap=True)
    older = {s.id: len(registry.versions(s.id)) - 1 for s in skills
             if len(registry.versions(s.id)) > 1}
    if older:  # tangled-skills' webfetch 0.1.0 beside 1.0.0: listed as one, said so
        ids = ", ".join(cell(i) for i in list(older)[:_NAMED_AT_MOST]) + (
            ", ..." if len(older) > _NAMED_AT_MOST else "")
        console.print(f"[dim]older versions[/dim] {sum(older.values())} not listed, of {ids} "
                      "(the latest is listed and called; skillexec skills show ID names them; "
                      "run --version picks one)", soft_wrap=True)
    problems = () if search else registry.problems  # the folder's, not the search's
    # Identical copies of loaded skills (yigitkonur's 48 skills are each in skills/ and
    # plugins/X/skills/): one line, not 48 that read as failures.
    copies = [p for p in problems if _identical_copy(p)]
    if copies:
        console.print(f"[dim]copies[/dim] {len(copies)} folder{'s' if len(copies) > 1 else ''} "
                      f"hold{'' if len(copies) > 1 else 's'} an identical copy of a skill "
                      f"loaded from another folder (e.g. {cell(copies[0].path)}, a copy of "
                      f"{cell(copies[0].duplicate_of)}): not loaded again", soft_wrap=True)
    # One line for a reason many folders share (X-Skills' 9,671 lower-case skill.md).
    by_reason: dict[str, list[Any]] = {}
    for problem in problems:
        if problem not in copies:
            by_reason.setdefault(problem.reason.removeprefix(str(problem.path)), []).append(
                problem)
    for alike in by_reason.values():
        # A hidden folder of skills, a marketplace too large: left unread on purpose.
        label = "[dim]note[/dim]" if all(p.note for p in alike) else "[red]not loaded[/red]"
        if len(alike) <= _NAMED_AT_MOST:
            for refused in alike:
                console.print(f"{label} {cell(refused.reason)}", soft_wrap=True)
        else:
            console.print(f"{label} {len(alike)} folders, each: "
                          f"{cell(alike[0].reason)} (and {len(alike) - 1} more alike)",
                          soft_wrap=True)
    if loose := _loose_note(registry, cfg.skills_dir, search):
        console.print(f"[dim]note[/dim] {cell(loose)}", soft_wrap=True)


def _loose_note(registry: SkillRegistry, folder: Path | None, search: str | None) -> str:
    """Why a folder of markdown pages loads no skill (MCP-Skills-Universe's 25,722 scraped
    pages: an empty table, and nothing said of them); "" where skills load."""
    if search or len(registry) or folder is None:
        return ""
    pages: list[Path] = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # .git holds no pages of theirs
        pages += [Path(top, n) for n in names
                  if n.lower().endswith(".md") and n.lower() != "skill.md"]  # said above
    if not pages:
        return ""
    return (f"{len(pages)} markdown files here are not in skill folders (a skill is a folder "
            f"holding SKILL.md, or skill.json / skill.yaml), e.g. {pages[0]}")


def _none_declared(skill: Skill, env: EnvStatus) -> bool:
    """Whether ``skill`` runs code and declares no packages: its environment is "none
    needed" only by what it declares, which says nothing of what its scripts import (a
    crispr pipeline importing pandas), so not "none needed" (skills show's words)."""
    return env.state == "none needed" and not env.requirements and env.npm is None and bool(
        skill.scripts or skill.runnable)


def _identical_copy(problem: Any) -> bool:
    """Whether a folder refused as defining a loaded skill again holds the same manifests."""
    from skillexec.skills.manifest import MANIFEST_NAMES
    first = problem.duplicate_of
    if first is None:
        return False
    try:
        return all((problem.path / n).is_file() == (first / n).is_file() and (
            not (first / n).is_file() or (problem.path / n).read_bytes()
            == (first / n).read_bytes()) for n in MANIFEST_NAMES)
    except OSError:
        return False


@app.command()
def show(skill_id: Annotated[str, typer.Argument(
             metavar="ID", help="A skill id, or the path of a skill folder.")],
         skills_dir: opt.SkillsDir = None, data_dir: opt.DataDir = None,
         as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
         instructions: Annotated[bool, typer.Option(
             "--instructions", help="Print its SKILL.md instructions only.")] = False,
         file: Annotated[str | None, typer.Option(
             "--file", metavar="PATH", help="Print a file it bundles (one of its files or "
             "scripts, as its instructions name it).")] = None,
         ) -> None:
    """One skill: what it offers, its parameters, how it runs here, where it is.

    --json: everything known, as one document; --instructions: its SKILL.md body; --file
    PATH: a file it bundles (its bytes to a pipe; on a terminal, as text, escaped)."""
    registry, skill = find_skill(skill_id, skills_dir)
    if file is not None:
        _print_bundled(skill, file)
        return
    if instructions:
        if skill.instructions is None:
            opt.fail(f"skill {skill.id!r} has no instructions (no SKILL.md body)")
        typer.echo(safe_block(skill.instructions))
        return
    envs = environments(opt.config(skills_dir=skills_dir, data_dir=data_dir))
    env = envs.status(skill)
    body = _summary(skill) | {
        "instructions": skill.instructions,
        "resources": [r.to_dict() for r in skill.resources],
        "scripts": list(skill.scripts), "environment": env.to_dict(),
        "parameters_schema": skill.parameters_schema, "output_schema": skill.output_schema,
        "versions": registry.versions(skill.id), "warnings": list(skill.warnings),
        "dependencies": [f"{d.name}{d.specifier}" for d in skill.dependencies],
        "skill_dependencies": [f"{d.id} {d.requirement}" for d in skill.skill_dependencies],
    }
    cfg = opt.config(skills_dir=skills_dir, data_dir=None)  # the policy decides what runs
    body["execution"] = cfg.isolation_policy().describe(
        skill, default_timeout_s=cfg.default_timeout_s,
        default_max_retries=cfg.default_max_retries)
    try:
        registry.check_dependencies(envs.attach(skill))  # as provisioned, if it is
        body["dependencies_ok"] = True
    except SkillExecError as exc:
        body["dependencies_ok"] = str(exc)
    if as_json:
        typer.echo(json_text(orjson.dumps(body, default=str).decode()))
    else:
        from skillexec.cli.skill_show import print_skill
        print_skill(make_console(), body)


@app.command()
def validate(path: Annotated[Path, typer.Argument(
                 metavar="PATH", help="A skill folder, or a folder of them.")],
             strict: Annotated[bool, typer.Option(
                 "--strict", help="SKILL.md exactly per the Agent Skills spec.")] = False,
             as_json: Annotated[bool, typer.Option("--json", help="The findings as JSON.")]
             = False) -> None:
    """Check a skill folder (or a folder of them); report every problem found."""
    if not path.exists():
        opt.fail(f"no such path: {path}")
    try:
        findings, notes = _check(path, strict=strict)
    except OSError as exc:
        opt.fail(f"{path}: cannot be read: {exc.strerror or exc}")
    if not findings:  # skills in .claude/skills alone, say: where they are, and what to do
        opt.fail("; ".join([_not_a_skill(path), *notes]))
    if as_json:
        typer.echo(json_text(orjson.dumps(findings).decode()))
        for note in notes:  # stdout stays the JSON
            typer.echo(f"skillexec: note: {safe_line(note)}", err=True)
    else:
        console = make_console()
        for f in findings:
            status = "[red]invalid[/red]" if f["errors"] else "[green]ok[/green]"
            what = (f"{cell(f['id'])} {cell(f['version'])} ({cell(f['source'])}) at "
                    if f["id"] else "")
            console.print(f"{status} {what}{cell(f['path'])}", soft_wrap=True)
            for w in f["warnings"]:
                console.print(f"  [yellow]warning[/yellow] {cell(w)}", soft_wrap=True)
            for e in f["errors"]:
                console.print(f"  [red]error[/red] {cell(e)}", soft_wrap=True)
        for note in notes:
            console.print(f"[dim]note[/dim] {cell(note)}", soft_wrap=True)
    raise typer.Exit(2 if any(f["errors"] for f in findings) else 0)


def _check(path: Path, *, strict: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """Each skill folder at or below ``path``, with every error and warning it has; and
    what the walk left unread on purpose (a hidden folder of skills: Claude Code's
    ``.claude/`` in a marketplace), a note, as ``skills list`` has it, not an invalid
    skill."""
    from skillexec.environments.requirements import requirement_set
    from skillexec.skills.loader import check_skill, is_skill_folder, load_skills
    from skillexec.skills.registry import SkillRegistry
    from skillexec.validation import ParameterValidator
    # A skill folder may hold others (Agent-Skills-for-Context-Engineering's top is a
    # skill, with 12 below it): what skills list finds, validate checks.
    report = load_skills(path, strict=strict)
    # Not resolved: a symlink to a folder beside it is its own entry, and the problem
    # the loader found with it (the same id and version twice) is the link's.
    folders = {s.path.absolute(): "" for s in report.skills if s.path is not None}
    notes = [p.reason for p in report.problems if p.note]
    for p in report.problems:  # e.g. the same id and version twice
        if not p.note:
            folders[p.path.absolute()] = p.reason
    if is_skill_folder(path) and path.resolve() not in {f.resolve() for f in folders}:
        folders[path.resolve()] = ""
    validator = ParameterValidator()
    policy = opt.config(skills_dir=None, data_dir=None).isolation_policy()
    findings: list[dict[str, Any]] = []
    for folder, load_problem in sorted(folders.items()):
        skill, errors = check_skill(folder, strict=strict)
        if load_problem and not errors:
            errors.append(load_problem)
        warnings: list[str] = []
        if skill is not None:
            try:
                validator.validate(skill, {})  # compiles the parameters schema
            except SkillExecError as exc:
                if exc.code != "invalid_parameters":  # a missing required value is expected
                    errors.append(str(exc))
            if not skill.runnable and skill.offers == "nothing":
                errors.append(f"no executable entry: {skill.entry.reason}")
            elif not skill.runnable:  # valid, used by its instructions and scripts
                # Said where an entry was asked for or is expected: of an Agent Skill that
                # names none it is no warning (83 of cat-agent-skills', all well-formed).
                if skill.source != "SKILL.md" or any(
                        k in skill.manifest for k in ("entry_point", "command", "main_file")):
                    warnings.append(f"no executable entry (it offers {skill.offers}): "
                                    f"{skill.entry.reason}")
            elif skill.entry.file is not None and (syntax := _syntax_error(skill.entry.file)):
                errors.append(syntax)
            warnings += skill.warnings
            try:  # an environment that cannot be made leaves the skill unavailable
                requirement_set(skill)
            except SkillExecError as exc:
                errors.append(f"its packages: {exc}")
            try:  # what is missing here may be installed where the skill will run
                SkillRegistry([skill]).check_dependencies(skill)
            except SkillExecError as exc:
                warnings.append(f"not runnable on this machine: {exc}")
            if (refused := policy.refusal(skill)) is not None:  # the operator may name it
                warnings.append(f"refused by this engine's policy: {refused.message}")
        errors = list(dict.fromkeys(errors))  # a field read twice is wrong once
        findings.append({"path": str(folder), "id": skill.id if skill else None,
                         "version": skill.version if skill else None,
                         "source": skill.source if skill else None,
                         "ok": not errors, "errors": errors, "warnings": warnings})
    return findings, notes


def _syntax_error(file: Path) -> str:
    """The entry file's syntax error, found by compiling it (never running it)."""
    try:
        compile(file.read_bytes(), str(file), "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"{file.name}: line {exc.lineno}: {exc.msg}"
    except (ValueError, OSError, RecursionError, MemoryError) as exc:
        return f"{file.name}: cannot be compiled: {exc}"
    return ""


@app.command()
def init(name: Annotated[str, typer.Argument(metavar="NAME", help="The new skill's id.")],
         directory: Annotated[Path | None, typer.Option(
             "--dir", help="Where to create it (default: the skills folder, ./skills or "
             "SKILLEXEC_SKILLS_DIR, when there is one; else here).")] = None
         ) -> None:
    """Create a working skill skeleton in the skills folder (or ./NAME)."""
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) or len(name) > 64:
        opt.fail(f"{name!r} is not a valid skill id: use lowercase letters, digits and "
                 "single hyphens, at most 64 characters")
    found = opt.config(skills_dir=None, data_dir=None).skills_dir
    if directory is None:  # where `skills list`, `show` and `run NAME` will find it
        directory = found if found is not None and found.is_dir() else Path(".")
    target = directory / name
    if target.exists():
        opt.fail(f"{target} already exists")
    template = resources.files("skillexec.skills") / "templates" / "skill"
    title = name.replace("-", " ").title()
    _copy(template, target, {"{{id}}": name, "{{name}}": title,
                             "{{module}}": name.replace("-", "_")})
    found_as = name if found is not None and directory == found else str(target)
    make_console().print(f"created [bold]{target}[/bold]; try: skillexec run {found_as} "
                         f"-p text=hello", soft_wrap=True)  # a command line is copied whole


def _copy(src: resources.abc.Traversable, dst: Path, subst: dict[str, str]) -> None:
    dst.mkdir(parents=True)
    for item in src.iterdir():
        if item.name == "__pycache__":
            continue
        if item.is_dir():
            _copy(item, dst / item.name, subst)
            continue
        text = item.read_text()
        for k, v in subst.items():
            text = text.replace(k, v)
        (dst / item.name).write_text(text)


def _runs_as(policy: IsolationPolicy, s: Skill) -> str:
    """The level the skill runs at here (the operator's policy decides, not its manifest),
    or why it will not run."""
    if policy.refusal(s) is not None:
        return f"refused ({policy.wanted(s).value})"
    return policy.isolation(s).value


def _summary(s: Skill) -> dict[str, object]:
    return {"id": s.id, "version": s.version, "name": s.name, "description": s.description,
            "source": s.source, "path": str(s.path) if s.path else None,
            "runnable": s.runnable, "entry": _entry(s), "offers": s.offers,
            "permissions": sorted(p.value for p in s.permissions),
            "isolation": s.execution.isolation.value if s.execution.isolation else None,
            "category": s.category, "tags": list(s.tags)}


def _print_bundled(skill: Skill, rel: str) -> None:
    """A file the skill lists (as the HTTP service and MCP serve it): nothing else of its
    folder, no link, nothing over the size they serve."""
    import sys

    from skillexec.cli.safe_text import for_terminal
    from skillexec.skills.bundle import bundled_file
    try:
        data = bundled_file(skill, rel)[0].read_bytes()
    except (SkillExecError, OSError):
        opt.fail(f"skill {skill.id!r} bundles no file {rel!r} (skillexec skills show "
                 f"{skill.id} lists its files and scripts)")
    sys.stdout.buffer.write(for_terminal(data) if sys.stdout.isatty() else data)
    sys.stdout.flush()


from skillexec.cli import skills_env_cmd  # noqa: E402, F401 - adds `check` and `install`
