"""``skillexec skills check [ID]...`` and ``skillexec skills install [ID [PKG]...]``: a skill's
environment, ahead of its first call (DESIGN §3.6)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from skillexec.cli import options as opt
from skillexec.cli.render import make_console
from skillexec.cli.safe_text import cell, json_text
from skillexec.cli.skills_cmd import _registry, app, environments, find_skill
from skillexec.cli.skills_env_text import Tally, declared_in, npm_said, only_npm, say_npm
from skillexec.environments.brings import likely_from
from skillexec.environments.modules import GUESSED, same_module
from skillexec.errors import SkillExecError

if TYPE_CHECKING:
    from rich.console import Console

    from skillexec.environments.imports import Coverage, MissingImport
    from skillexec.environments.manager import EnvironmentManager, EnvStatus
    from skillexec.skills.model import Skill

__all__ = ["check", "install"]

AsJson = Annotated[bool, typer.Option("--json", help="One JSON document.")]
_NOT_READY = ("not installed", "failed")  # environment states an install would change


@app.command()
def check(skill_ids: Annotated[list[str] | None, typer.Argument(
              metavar="ID", help="Skill ids (none: every skill of the folder).")] = None,
          skills_dir: opt.SkillsDir = None, data_dir: opt.DataDir = None,
          as_json: AsJson = False) -> None:
    """List a skill's imports that nothing here provides, with the package to declare.

    Imports of its Python files that neither the standard library, the skill's folder nor
    its environment provide; Node and shell scripts are counted, not read. Without an ID,
    every skill of the folder: those with something to do are shown, then a count (and the
    folders that could not be loaded). Exit 0 when there are none, 2 when some are missing
    (what its declared packages bring once first installed is not missing), or when the
    npm packages a skill's package.json lists are not installed (skillexec installs none:
    run npm install where it says)."""
    from skillexec.environments.imports import coverage, missing_imports
    from skillexec.environments.python_version import python_mismatch
    from skillexec.environments.tied import tied_names
    # Each with the name the user gave it (a folder's path is the next command's ID too).
    registry = None if skill_ids else _registry(skills_dir)
    named = [(s, s.id) for s in registry.list()] if registry is not None \
        else [(find_skill(i, skills_dir)[1], i) for i in skill_ids or ()]
    envs = environments(opt.config(skills_dir=skills_dir, data_dir=data_dir))
    console = make_console()
    docs, tally = [], Tally()
    for skill, name in named:
        env = envs.status(skill)
        declared = _declared(envs, skill)
        tied = tied_names(skill)  # never offered: see environments.tied
        missing = missing_imports(skill, env_paths=envs.attach(skill).env_paths,
                                  declared=declared)
        coming = {m.module: c for m in missing if (c := _coming(m, declared, env.state))}
        # Its first call installs what it declares: only a failed install leaves it missing.
        needed = [m for m in missing if m.needed
                  and not (m.module in coming and env.state == "not installed")]
        waiting = any(m.needed and m.module in coming for m in missing)
        read = coverage(skill)
        # Scripts that ask for another Python: said, not counted (most run all the same).
        python = {rel: asked for rel in skill.scripts if skill.path is not None
                  and (asked := python_mismatch(skill.path / rel))}
        borrowed = any(m.undeclared and m.module not in coming for m in missing)
        tally.add(read, short=bool(needed), other_python=bool(python), borrowed=borrowed,
                  waiting=waiting, npm=env.npm_missing)
        if as_json:
            docs.append({"id": skill.id, "environment": env.to_dict(),
                         "missing": [_missing_doc(m, declared, tied) for m in missing],
                         "ok": not needed and not env.npm_missing,
                         "borrows": borrowed,
                         "python": python, "read": read.to_dict(),
                         "not_packages": list(_named_skills(envs, skill))})
        elif skill_ids or needed or borrowed or python or env.state in _NOT_READY \
                or env.npm_missing:
            _report(console, envs, skill, env, missing, needed, read, declared, coming,
                    name=shlex.quote(name), tied=tied)
            for rel, asked in python.items():
                console.print(f"  [yellow]python[/] {cell(rel)} {cell(asked)}", soft_wrap=True)
    # (A hidden folder of skills, left unread on purpose, is a note of skills list's.)
    refused = sum(not p.note for p in registry.problems) if registry is not None else 0
    # A folder that did not load was not checked: a count of the rest alone reads as all.
    not_loaded = (f"{refused} skill folder{'s' if refused != 1 else ''} could not be loaded "
                  "(skillexec skills list says why)" if refused else "")
    if as_json:
        typer.echo(json_text(orjson.dumps(docs[0] if skill_ids and len(skill_ids) == 1
                                          else docs).decode()))
        if not_loaded:
            typer.echo(f"skillexec: {not_loaded}", err=True)
    elif registry is not None:
        console.print("; ".join(filter(None, (tally.summary(), not_loaded))), soft_wrap=True)
    raise typer.Exit(2 if tally.short or tally.npm else 0)


@dataclass(frozen=True, slots=True)
class _Coming:
    """A module the skill's declared packages provide once its environment is installed:
    one of them is its package (``declared``), or usually brings it (``via``: pandas brings
    numpy). Neither is the author's to declare."""

    declared: bool
    via: tuple[str, ...] = ()


def _declares(declared: set[str], package: str) -> bool:
    """Whether ``package``, or one providing the same modules, is among ``declared``."""
    from packaging.utils import canonicalize_name
    return any(canonicalize_name(p) in declared for p in same_module(package))


def _coming(m: MissingImport, declared: set[str], state: str) -> _Coming | None:
    """What provides ``m`` once the environment (``state``) is installed, if anything."""
    if not m.installable:
        return None
    if _declares(declared, m.package):
        # Installed and still missing: the declared package does not provide it.
        return _Coming(declared=True) if state in _NOT_READY else None
    via = likely_from(m.package, declared)
    # With the environment installed (or none needed), one only skillexec's own environment
    # provides here is still one such a package brings wherever the skill is installed.
    return _Coming(declared=False, via=tuple(via)) if via and (
        state in _NOT_READY or m.borrowed) else None


def _missing_doc(m: MissingImport, declared: set[str], tied: frozenset[str],
                 ) -> dict[str, object]:
    return {**m.to_dict(), "declared": _declares(declared, m.package),
            "likely_from": likely_from(m.package, declared),
            "elsewhere": _tied(m, tied)}


def _tied(m: MissingImport, tied: frozenset[str]) -> bool:
    """Whether the skill's requirements take ``m``'s package from another index or source."""
    from packaging.utils import canonicalize_name
    return canonicalize_name(m.package) in tied


def _report(console: Console, envs: EnvironmentManager, skill: Skill, env: EnvStatus,
            missing: list[MissingImport], needed: list[MissingImport], read: Coverage,
            declared: set[str], coming: dict[str, _Coming], *, name: str,
            tied: frozenset[str] = frozenset()) -> None:
    # What it requires and where it was declared (a plugin's skill may take its plugin's).
    said = (f"{cell(', '.join(env.requirements))}, "
            f"{declared_in(env.sources, manifest=skill.source)}")
    shown = cell(env.state) + (f" ({said})" if env.requirements else "") + (
        f": {cell(env.reason)}" if env.reason else "")
    if env.state == "none needed" and env.requirements:
        # What it declares, skillexec's own environment provides: said, not "none".
        shown = f"none needed: skillexec's own environment provides what it requires ({said})"
    elif only_npm(env.to_dict()) and env.npm is not None:
        # Its packages are npm's: "none needed" said nothing of them.
        shown = "npm packages installed" if env.npm.installed else \
            "[red]npm packages not installed[/red]"
    elif env.state == "none needed" and needed:
        shown = "none declared"  # with imports missing, one is needed
    console.print(f"{cell(skill.id)}: environment {shown}", soft_wrap=True)
    if env.npm is not None and not env.npm.installed:
        # As a Node script's missing package is said at run time (script_npm).
        plural = "s" if len(env.npm.missing) > 1 else ""
        console.print(f"  [red]missing[/red] npm package{plural} "
                      f"{npm_said(env.npm.to_dict(), lead=False)}", soft_wrap=True)
    if env.state == "not installed":
        console.print(f"  install it ahead of time: skillexec skills install "
                      f"{cell(name)}", soft_wrap=True)
    _say_named_skills(console, _named_skills(envs, skill))
    # A guess the skill declares itself is the author's word, not only the module's name.
    unsure = set(_undeclared(declared, {m.package for m in missing if m.guessed}))
    # Declared packages not installed yet may provide a module whose package is only a
    # guess (sgmllib3k provides sgmllib): install them first, rather than a guessed name
    # that may not exist, or be someone else's.
    later = unsure if declared and env.state in _NOT_READY else set()
    for m in missing:
        c = coming.get(m.module)
        elsewhere = _tied(m, tied)
        label = "optional" if m.optional else "reference-only" if m.reference else \
            "tests'" if m.tests else "elsewhere" if elsewhere else \
            "unresolved" if m.unsure else \
            "outside" if m.outside else "declared" if c and c.declared else \
            "indirect" if c else "missing" if m.needed else "borrowed"
        where = ", ".join(m.files[:3]) + (", ..." if len(m.files) > 3 else "")
        # The one the skill declares, where it declares one providing the same modules.
        alike = sorted(same_module(m.package) & declared)
        package = (f"{m.package}, {GUESSED}" if m.package in unsure
                   else alike[0] if alike else m.package)
        # A module outside the skill is named by no package: the index's of that name is
        # someone else's (dependency confusion), and the sandbox hides the one meant.
        what = "" if m.outside else f" (package {cell(package)})"
        console.print(f"  [{'red' if m in needed else 'yellow'}]{label}[/] module "
                      f"{cell(m.module)}{what}, imported at {cell(where)}"
                      + (": its requirements take it from another index or source, which "
                         "skillexec does not install: not offered from the index (its "
                         "package of that name may be someone else's)" if elsewhere else
                         f": {cell(m.outside)}: not offered as a package (its name is only "
                         "guessed into one, which would likely be another project)"
                         if m.unsure else
                         f": {cell(m.outside)}: not a package to install (one of that name "
                         "would be another project), and the sandbox lets a skill's scripts "
                         "read their own folder only: bundle what it needs in it"
                         if m.outside else "")
                      + (_coming_said(c, env.state) if c else
                         ": here skillexec's own environment provides it, "
                         "not the skill's" if m.borrowed else "")
                      + ("; a package it declares may provide it once installed"
                         if m.package in later else ""), soft_wrap=True)
    unread = read.unchecked()
    if not missing:
        # Only what was read is vouched for: a Node script's requires are not imports.
        said = ("every import resolves" if read.python
                else "no Python files" if unread else "no Python files: nothing to check")
        console.print(f"  {'; '.join(filter(None, (said, unread)))}", soft_wrap=True)
    elif unread:
        console.print(f"  {unread}", soft_wrap=True)
    # Neither a module outside the skill nor one only its tests import (pytest) is a
    # package for the skill to declare.
    offered = [m for m in missing if m.installable and m.module not in coming
               and not _tied(m, tied)]
    # A name only guessed from its module's goes into no command to paste: the index's
    # project of that name may be another's (elftools is pyelftools').
    wanted = {m.package for m in offered} - later - unsure
    if missing and (undeclared := _undeclared(declared, wanted)):
        # Declared ones are the environment's to install (said above), not to declare.
        console.print(f"  declare them in requirements.txt, or: skillexec skills install "
                      f"{cell(name)} {cell(' '.join(undeclared))}", soft_wrap=True)
    if unknown := sorted({m.module for m in offered if m.package in unsure - later}):
        console.print(f"  find the package of module{'s' if len(unknown) > 1 else ''} "
                      f"{cell(', '.join(unknown))} (none is known here; a package of the same "
                      f"name may be another project), then: skillexec skills install "
                      f"{cell(name)} PACKAGE", soft_wrap=True)


def _coming_said(c: _Coming, state: str) -> str:
    """How ``c`` comes, after a module's line (the environment's line says how to install)."""
    if c.declared:
        return ": not installed yet" if state == "not installed" else \
            ": not installed: its environment failed (above)"
    return (f": a package it declares ({', '.join(c.via)}) likely brings it"
            + (" once installed" if state in _NOT_READY else ""))


def _not_added(envs: EnvironmentManager, skill: Skill, names: list[str]) -> list[str]:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    added = {canonicalize_name(Requirement(p).name) for p in envs.extras(skill.id)}
    return [n for n in names if canonicalize_name(n.strip()) not in added]


def _named_skills(envs: EnvironmentManager, skill: Skill) -> tuple[str, ...]:
    """The skill's declared dependencies that name skills of its folder (not installed)."""
    try:
        return envs.requirements(skill).skills
    except SkillExecError:
        return ()


def _say_named_skills(console: Console, names: tuple[str, ...]) -> None:
    if len(names) == 1:
        console.print(f"  [yellow]not a package[/]: its dependency {cell(names[0])} names a "
                      "skill of its folder, not a Python package: nothing is installed for "
                      "it", soft_wrap=True)
    elif names:
        console.print(f"  [yellow]not packages[/]: its dependencies {cell(', '.join(names))} "
                      "name skills of its folder, not Python packages: nothing is installed "
                      "for them", soft_wrap=True)


def _declared(envs: EnvironmentManager, skill: Skill) -> set[str]:
    """The packages the skill's requirements name (canonical names)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    try:
        reqs = envs.requirements(skill).requirements
    except SkillExecError:
        reqs = ()
    return {canonicalize_name(Requirement(r).name) for r in reqs}


def _undeclared(declared: set[str], packages: set[str]) -> list[str]:
    """Those of ``packages`` that the skill's requirements (``declared``: see _declared)
    do not name, nor one that provides the same modules (culture-index declares
    opencv-python-headless for cv2)."""
    return sorted(p for p in packages if not same_module(p) & declared)


@app.command()
def install(skill_id: Annotated[str | None, typer.Argument(
                metavar="ID", help="A skill id (none: every skill of the folder whose "
                "environment is not ready).")] = None,
            packages: Annotated[list[str] | None, typer.Argument(
                metavar="PKG", help="Packages to add for this skill (kept).")] = None,
            remove: Annotated[list[str] | None, typer.Option(
                "--remove", metavar="PKG", help="A package added before, to drop (by name; "
                "repeatable).")] = None,
            skills_dir: opt.SkillsDir = None, data_dir: opt.DataDir = None,
            as_json: AsJson = False) -> None:
    """Provision the skill's environment now, with PKG... added for it (kept).

    Its declared packages plus PKG..., recorded for this skill under the data folder and
    installed with it from then on. Without an ID, every skill of the folder whose declared
    environment is not installed (or failed) is provisioned, one after another; exit 1 if
    one fails (the others are kept)."""
    if skill_id is None:
        _install_all(skills_dir, data_dir, as_json)
        return
    from packaging.requirements import InvalidRequirement
    skill = find_skill(skill_id, skills_dir)[1]
    envs = environments(opt.config(skills_dir=skills_dir, data_dir=data_dir))
    try:
        if remove and (unknown := _not_added(envs, skill, remove)):
            opt.fail(f"{', '.join(unknown)} was not added for {skill.id} with skills install"
                     f" (added: {', '.join(envs.extras(skill.id)) or 'none'}); a package "
                     "the skill declares is its author's to remove")
        status = envs.install(skill, packages or (), remove or ())
    except InvalidRequirement as exc:
        # packaging's message is three lines (why, the text, a caret under the place).
        why, *shown = str(exc).splitlines()
        text = f" {shown[0].strip()!r}" if shown else ""
        opt.fail(f"not a package requirement:{text} ({why.rstrip('.')})")
    except SkillExecError as exc:
        kept = (f"; {', '.join(packages)} not added: the skill's packages are as they were"
                if packages else "")
        opt.fail(f"{str(exc).rstrip('.')}{kept}")
    if as_json:
        typer.echo(json_text(orjson.dumps({"id": skill.id, "installs": envs.installs,
                                           "environment": status.to_dict(),
                                           "not_packages": list(_named_skills(envs, skill)),
                                           }).decode()))
        return
    made = "installed" if envs.installs else "already installed"
    what = ", ".join(status.requirements) or "nothing to install"
    console = make_console()
    if not status.requirements:
        # Nothing declared is no "already installed": its imports may still miss (check).
        from skillexec.environments.imports import missing_imports
        needs = [m for m in missing_imports(skill) if m.installable]
        missing = sorted({m.package for m in needs if not m.guessed})
        # A name only guessed from the module's is in no command (see _report).
        unknown = sorted({m.module for m in needs if m.guessed})
        # A Node skill declares npm packages, which skillexec does not install.
        what = "Python packages" if status.npm is not None else "packages"
        console.print(f"{cell(skill.id)}: declares no {what}: nothing to install" + (
            f"; its imports need {cell(', '.join(missing))}: skillexec skills install "
            f"{cell(skill_id)} {cell(' '.join(missing))}" if missing else "") + (
            f"; find the package of {cell(', '.join(unknown))} (none is known here)"
            if unknown else ""), soft_wrap=True)
        _say_named_skills(console, _named_skills(envs, skill))
        say_npm(console, status)
        return
    # (a plugin's skill may take its plugin's)
    source = declared_in(status.sources, manifest=skill.source)
    console.print(f"{cell(skill.id)}: environment {cell(status.state)} ({made}: "
                  f"{cell(what)}{'; ' + source if source else ''})", soft_wrap=True)
    if status.note:  # its --hash values, which pip did not check
        console.print(f"  [yellow]note[/]: {cell(status.note)}", soft_wrap=True)
    _say_named_skills(console, _named_skills(envs, skill))
    say_npm(console, status)
    if packages:
        typer.echo("an engine already running (serve, mcp) uses these packages from its "
                   "next call of this skill; a worker, from its next start")


def _install_all(skills_dir: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """Every skill whose declared environment is not ready, provisioned in turn (skills that
    share a set of packages share its environment: the first one installs it)."""
    registry = _registry(skills_dir)
    envs = environments(opt.config(skills_dir=skills_dir, data_dir=data_dir))
    console = make_console()
    docs, failed = [], 0
    for skill in registry.list():
        if envs.status(skill).state not in _NOT_READY:
            continue
        try:
            status = envs.install(skill)
        except SkillExecError as exc:
            failed += 1
            docs.append({"id": skill.id, "ok": False, "error": str(exc)})
            line = f"{cell(skill.id)}: [red]not installed[/red]: {cell(str(exc))}"
        else:
            docs.append({"id": skill.id, "ok": True, "environment": status.to_dict()})
            line = f"{cell(skill.id)}: environment {cell(status.state)} " \
                   f"({cell(', '.join(status.requirements))})"
        if not as_json:
            console.print(line, soft_wrap=True)
            _say_named_skills(console, _named_skills(envs, skill))
    if as_json:
        typer.echo(json_text(orjson.dumps(docs).decode()))
    else:
        console.print(f"{envs.installs} environments installed, {failed} failed",
                      soft_wrap=True)
    raise typer.Exit(1 if failed else 0)
