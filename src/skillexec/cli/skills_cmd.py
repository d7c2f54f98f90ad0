"""``skillexec skills list | show | validate | init``."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from skillexec.cli import options as opt
from skillexec.cli.render import make_console, short
from skillexec.cli.safe_text import cell, json_text, print_json
from skillexec.errors import SkillExecError
from skillexec.skills.loader import load_skills
from skillexec.skills.model import Skill
from skillexec.skills.registry import SkillRegistry

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Find, inspect, check and create skills.")


def _registry(skills_dir: Path | None) -> SkillRegistry:
    cfg = opt.config(skills_dir=skills_dir, data_dir=None)
    if cfg.skills_dir is None:
        opt.fail("no skills folder: pass --skills-dir, or run where ./skills exists")
    registry = SkillRegistry()
    registry.load_dir(cfg.skills_dir, strict=cfg.strict_manifests)
    return registry


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


@app.command("list")
def list_(skills_dir: opt.SkillsDir = None,
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every skill in the folder, and every folder that could not be loaded, with why."""
    registry = _registry(skills_dir)
    skills = registry.list()
    if as_json:
        typer.echo(json_text(orjson.dumps([_summary(s) for s in skills]).decode()))
        return
    console = make_console()
    table = Table(title=f"{len(skills)} skills")
    for col in ("id", "version", "format", "isolation", "entry", "description"):
        table.add_column(col, overflow="fold")
    for s in skills:
        entry = cell(_entry(s, reason=False))
        table.add_row(cell(s.id), cell(s.version), cell(s.source),
                      s.execution.isolation.value if s.execution.isolation else "default",
                      entry if s.runnable else f"[red]{entry}[/red]",
                      cell(short(s.description or "", 40)))
    console.print(table)
    for s in skills:  # below the table, where a long reason stays readable
        if not s.runnable:
            console.print(f"[yellow]not runnable[/yellow] {cell(s.id)}: {cell(s.entry.reason)}")
    for problem in registry.problems:
        console.print(f"[red]not loaded[/red] {cell(problem.reason)}")


@app.command()
def show(skill_id: str, skills_dir: opt.SkillsDir = None) -> None:
    """Everything known about one skill."""
    registry = _registry(skills_dir)
    try:
        skill = registry.get(skill_id)
    except SkillExecError as exc:
        opt.fail(str(exc))
    body = _summary(skill) | {
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
        registry.check_dependencies(skill)
        body["dependencies_ok"] = True
    except SkillExecError as exc:
        body["dependencies_ok"] = str(exc)
    print_json(make_console(), orjson.dumps(body, default=str).decode())


@app.command()
def validate(path: Path,
             strict: Annotated[bool, typer.Option(help="SKILL.md per the spec.")] = False) -> None:
    """Check a skill folder (or a folder of them); explain every problem found."""
    from skillexec.validation import ParameterValidator

    if not path.exists():
        opt.fail(f"no such path: {path}")
    report = load_skills(path, strict=strict)
    console = make_console()
    validator = ParameterValidator()
    registry = SkillRegistry(report.skills)
    policy = opt.config(skills_dir=None, data_dir=None).isolation_policy()
    bad = len(report.problems)
    for s in report.skills:
        problems = []
        try:
            validator.validate(s, {})  # compiles the parameters schema: reports a broken one
        except SkillExecError as exc:
            if exc.code != "invalid_parameters":  # a missing required value is expected here
                problems.append(str(exc))
        if not s.runnable:
            problems.append(f"no executable entry: {s.entry.reason}")
        elif s.entry.file is not None and (syntax := _syntax_error(s.entry.file)):
            problems.append(syntax)
        warnings = list(s.warnings)
        try:  # what is missing here may be installed where the skill will run: a warning
            registry.check_dependencies(s)
        except SkillExecError as exc:
            warnings.append(f"not runnable on this machine: {exc}")
        if (refused := policy.refusal(s)) is not None:  # the operator may name it: a warning
            warnings.append(f"refused by this engine's policy: {refused.message}")
        status = "[red]invalid[/red]" if problems else "[green]ok[/green]"
        console.print(f"{status} {cell(s.id)} {cell(s.version)} ({cell(s.source)}) at "
                      f"{cell(s.path)}")
        for w in warnings:
            console.print(f"  [yellow]warning[/yellow] {cell(w)}")
        for p in problems:
            console.print(f"  [red]error[/red] {cell(p)}")
        bad += bool(problems)
    for problem in report.problems:
        console.print(f"[red]invalid[/red] {cell(problem.reason)}")
    if not report.skills and not report.problems:
        opt.fail(f"{path}: no skill.json, skill.yaml or SKILL.md found")
    raise typer.Exit(2 if bad else 0)


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
def init(name: str,
         directory: Annotated[Path, typer.Option("--dir", help="Where to create it.")] = Path(".")
         ) -> None:
    """Create a working skill skeleton in ./NAME."""
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) or len(name) > 64:
        opt.fail(f"{name!r} is not a valid skill id: use lowercase letters, digits and "
                 "single hyphens, at most 64 characters")
    target = directory / name
    if target.exists():
        opt.fail(f"{target} already exists")
    template = resources.files("skillexec.skills") / "templates" / "skill"
    title = name.replace("-", " ").title()
    _copy(template, target, {"{{id}}": name, "{{name}}": title,
                             "{{module}}": name.replace("-", "_")})
    make_console().print(f"created [bold]{target}[/bold]; try: skillexec run {target} "
                         f"-p text=hello")


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


def _summary(s: Skill) -> dict[str, object]:
    return {"id": s.id, "version": s.version, "name": s.name, "description": s.description,
            "source": s.source, "path": str(s.path) if s.path else None,
            "runnable": s.runnable, "entry": _entry(s),
            "permissions": sorted(p.value for p in s.permissions),
            "isolation": s.execution.isolation.value if s.execution.isolation else None,
            "category": s.category, "tags": list(s.tags)}
