"""A skill's environment in words, as ``skills list``, ``show``, ``check`` and ``install``
say it: where its Python packages were declared, and its npm packages (which skillexec does
not install) in the words a Node script's missing-package error uses ("... which
package.json lists but nobody installed: run npm install in ..."); and the summary line of
a whole folder's ``skills check``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from skillexec.cli.safe_text import cell

if TYPE_CHECKING:
    from rich.console import Console

    from skillexec.environments.imports import Coverage
    from skillexec.environments.status import EnvStatus

__all__ = ["Tally", "declared_in", "npm_column", "npm_said", "only_npm", "say_npm"]

def declared_in(sources: Iterable[str], *, manifest: str) -> str:
    """``declared in ../../pyproject.toml`` (escaped for the console); "" for none.
    ``manifest``: the file(s) the skill was loaded from (``skill.json+SKILL.md``)."""
    named = [("its manifest" if "+" in manifest else manifest) if s == "manifest"
             else s for s in sources]
    return f"declared in {cell(', '.join(named))}" if named else ""


def only_npm(env: Mapping[str, Any]) -> bool:
    """Whether the environment (``EnvStatus.to_dict()``) is its npm packages alone: no
    Python package declared, so "none needed" would say nothing of it."""
    return env.get("npm") is not None and env["state"] == "none needed" \
        and not env.get("requirements")


def npm_said(npm: Mapping[str, Any], *, lead: bool = True) -> str:
    """Its npm packages (``NpmPackages.to_dict()``), installed or not and what to do;
    ``lead=False`` leaves out "npm packages not installed: ", said before it."""
    where = cell(npm["file"])
    if npm["installed"]:
        return f"npm packages installed ({cell(', '.join(npm['declared']))}, from {where})"
    missing = npm["missing"]
    head = f"npm package{'s' if len(missing) > 1 else ''} not installed: " if lead else ""
    return (f"{head}{cell(', '.join(missing))}, which {where} lists but nobody installed: run npm "
            f"install in {cell(npm['folder'])} (skillexec installs Python packages, not "
            "npm's)")


def npm_column(env: Mapping[str, Any], python: str) -> str:
    """The environment column of ``skills list``: ``python`` (its Python packages' state)
    and, where its package.json lists packages, whether they are installed."""
    npm = env.get("npm")
    if npm is None:
        return python
    said = "npm installed" if npm["installed"] else "[yellow]npm not installed[/yellow]"
    return said if only_npm(env) else f"{python}; {said}"


def say_npm(console: Console, status: EnvStatus) -> None:
    """Its npm packages, where its package.json lists some: skillexec installs none."""
    if status.npm is not None:
        npm = npm_said(status.npm.to_dict())
        console.print(f"  {npm if status.npm.installed else f'[yellow]{npm}[/yellow]'}",
                      soft_wrap=True)


class Tally:
    """The counts of a whole folder's check, for its summary line."""

    def __init__(self) -> None:
        self.checked = self.short = self.other_python = self.no_python = self.borrowed = 0
        self.waiting = self.npm = 0
        self.node = self.shell = self.node_skills = self.shell_skills = 0

    def add(self, read: Coverage, *, short: bool, other_python: bool,
            borrowed: bool = False, waiting: bool = False, npm: bool = False) -> None:
        self.checked += 1
        self.npm += npm
        self.short += short
        self.borrowed += borrowed and not short
        self.waiting += waiting and not (short or borrowed)
        self.other_python += other_python
        self.no_python += not read.python
        self.node += read.node
        self.node_skills += bool(read.node)
        self.shell += read.shell
        self.shell_skills += bool(read.shell)

    def summary(self) -> str:
        # A skill without Python files resolves every import only vacuously: not counted so.
        ok = self.checked - self.short - self.no_python - self.borrowed - self.waiting
        parts = [f"{self.checked} skills checked: {ok} resolve every import, {self.short} "
                 f"miss modules" + (f", {self.borrowed} import what only skillexec's own "
                                    "environment provides here" if self.borrowed else "")
                 + (f", {self.waiting} import what their declared packages provide once "
                    "installed" if self.waiting else "")
                 + (f", {self.no_python} have no Python files" if self.no_python else "")
                 + (f", {self.npm} have npm packages not installed (run npm install where "
                    "each says)" if self.npm else "")]
        what = [f"the {part} of {_n(n, kind)} (in {_n(skills, 'skill')})"
                for part, n, kind, skills in (
                    ("requires", self.node, "Node script", self.node_skills),
                    ("commands", self.shell, "shell script", self.shell_skills)) if n]
        if what:
            parts.append(f"not checked: {' and '.join(what)}")
        if self.other_python:
            parts.append(f"{self.other_python} have scripts that ask for another Python")
        return "; ".join(parts)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
