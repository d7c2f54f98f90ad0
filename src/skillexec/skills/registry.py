"""The skill registry: every loaded version of every skill, looked up by id and semver.

``get(id)`` is on the hot path of every call, so it is one dict lookup; requirements are
matched only when one is given. Writers copy and swap the per-id maps under a lock, so
readers never need one.
"""

from __future__ import annotations

import builtins
import dataclasses
import difflib
import importlib.metadata
import json
import os
import platform
import shutil
import threading
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from skillexec.errors import DependencyError, ManifestError, ParameterError, SkillNotFoundError
from skillexec.skills.bundle import runs_python
from skillexec.skills.folder_files import read_folder_file
from skillexec.skills.loader import LoadProblem, LoadReport, load_skills
from skillexec.skills.model import EntryKind, Skill
from skillexec.skills.plugins import holds
from skillexec.skills.semver import best_match, is_any, parse_version

__all__ = ["SkillRegistry"]


@dataclass(frozen=True, slots=True)
class _Failure:
    """A cached dependency failure, re-raised as a fresh exception each time."""

    message: str
    code: str
    details: dict[str, Any] = field(default_factory=dict)

    def error(self) -> DependencyError:
        return DependencyError(self.message, code=self.code, details=dict(self.details))


class SkillRegistry:
    """Skills by id, several versions each; the latest non-pre-release is the default."""

    def __init__(self, skills: Iterable[Skill] = (), *, private: Iterable[Path] = ()) -> None:
        # The engine's own folders (its data dir, its configuration's): a plugin holding
        # one is not shipped whole (a viewer key read the audit signing key and the
        # journal through ../../ paths of a plugin the data dir was in).
        self._private = tuple(os.path.realpath(p) for p in private)
        self._versions: dict[str, dict[str, Skill]] = {}
        self._latest: dict[str, Skill] = {}
        self._problems: dict[Path, tuple[LoadProblem, ...]] = {}
        self._checked: dict[str, _Failure | None] = {}
        self._lock = threading.RLock()
        # Set by the engine: (id "<skill>:<script>", requirement) -> the derived skill.
        self.derive: Callable[[str, str | None], Skill] | None = None
        for skill in skills:
            self.add(skill)

    # -- contents -------------------------------------------------------------------------

    def add(self, skill: Skill, *, replace: bool = True) -> Skill:
        """Register ``skill`` and return it as registered (a plugin's skill whose plugin
        holds an engine folder as one of no plugin); an equal version already there is
        replaced unless ``replace=False``, which raises ManifestError instead."""
        if skill.plugin_root is not None and holds(skill.plugin_root, self._private):
            skill = dataclasses.replace(skill, plugin_root=None, scripts=tuple(
                s for s in skill.scripts if not s.startswith("../")))
        try:
            version = parse_version(skill.version)
        except ValueError as exc:
            raise ManifestError(f"skill {skill.id!r}: {exc}",
                                details={"field": "version"}) from None
        with self._lock:
            current = self._versions.get(skill.id, {})
            same = [v for v in current if parse_version(v) == version]
            if same and not replace:
                raise ManifestError(
                    f"skill {skill.id}@{same[0]} is already registered"
                    + (f" (from {current[same[0]].path})" if current[same[0]].path else ""),
                    code="skill_already_registered",
                    details={"skill_id": skill.id, "version": same[0]},
                )
            updated = {v: s for v, s in current.items() if v not in same}
            updated[skill.version] = skill
            self._publish(skill.id, updated)
        return skill

    def remove(self, id: str, version: str | None = None) -> tuple[Skill, ...]:
        """Unregister every version of ``id``, or only ``version``; returns what was removed."""
        with self._lock:
            current = self._versions.get(id)
            if current is None:
                raise self.not_found(id)
            if version is None:
                removed = tuple(current.values())
                self._publish(id, {})
                return removed
            wanted = parse_version(version)
            gone = [v for v in current if parse_version(v) == wanted]
            if not gone:
                raise self._no_version(id, version)
            self._publish(id, {v: s for v, s in current.items() if v not in gone})
            return tuple(current[v] for v in gone)

    def _publish(self, id: str, versions: dict[str, Skill]) -> None:
        if versions:
            self._versions[id] = versions
            self._latest[id] = versions[_latest_version(versions)]
        else:
            self._versions.pop(id, None)
            self._latest.pop(id, None)
        # Any skill may depend on the one that changed.
        self._checked = {}

    def load_dir(self, path: Path, *, strict: bool = False) -> LoadReport:
        """Load every skill under ``path`` and add it; problems are kept in ``problems``."""
        report = load_skills(Path(path), strict=strict)
        report = dataclasses.replace(report, skills=tuple(self.add(s) for s in report.skills))
        with self._lock:
            self._problems[Path(path).resolve()] = report.problems
        return report

    @property
    def problems(self) -> tuple[LoadProblem, ...]:
        """The folders that failed to load, from every ``load_dir`` (latest per folder)."""
        return tuple(p for problems in self._problems.values() for p in problems)

    # -- lookups --------------------------------------------------------------------------

    def get(self, id: str, requirement: str | None = None) -> Skill:
        """The latest version of ``id`` matching ``requirement`` (semver; None for latest).

        An id ``<skill>:<script>`` names a bundled script of a skill, derived on demand
        (see :mod:`skillexec.scripts`) when ``derive`` is set."""
        if requirement is None:
            found = self._latest.get(id)
            if found is not None:
                return found
            if self.derive is not None and ":" in id:
                return self._derived(id, None)
            raise self.not_found(id)
        if not isinstance(requirement, str):  # from code: version=1 raised AttributeError
            raise ParameterError(
                f"a version requirement is text such as '1.2.3' or '^1.2' (got "
                f"{type(requirement).__name__} {requirement!r})",
                code="invalid_version_requirement",
                details={"skill_id": id, "requirement": repr(requirement)})
        versions = self._versions.get(id)
        if versions is None:
            if self.derive is not None and ":" in id:
                return self._derived(id, requirement)
            raise self.not_found(id)
        if is_any(requirement):
            return self.get(id)
        if requirement.count(".") >= 2 and requirement in versions:
            return versions[requirement]  # an exact version, as the journal stores them
        try:
            best = best_match(versions, requirement)
        except ValueError as exc:
            raise ParameterError(str(exc), code="invalid_version_requirement",
                                 details={"skill_id": id, "requirement": requirement}) from None
        if best is None:
            raise self._no_version(id, requirement)
        return versions[best]

    def resolve(self, id: str, requirement: str | None = None) -> Skill:
        """``get`` followed by ``check_dependencies``."""
        skill = self.get(id, requirement)
        self.check_dependencies(skill)
        return skill

    def list(self, search: str | None = None) -> list[Skill]:
        """The latest version of each skill, sorted by id; with ``search``, those whose id,
        name or description holds it (in any case): one of a marketplace's 241."""
        latest = self._latest
        found = [latest[i] for i in sorted(latest)]
        if not search:
            return found
        needle = search.lower()
        return [s for s in found if needle in f"{s.id} {s.name} {s.description}".lower()]

    def versions(self, id: str) -> builtins.list[str]:
        """The registered versions of ``id``, oldest first; [] for an unknown id."""
        return sorted(self._versions.get(id, {}), key=parse_version)

    def every_version(self, id: str) -> tuple[Skill, ...]:
        """Every registered version of ``id``, oldest first; () for an unknown id."""
        versions = self._versions.get(id, {})
        return tuple(versions[v] for v in sorted(versions, key=parse_version))

    def exact(self, id: str, version: str) -> Skill | None:
        """The skill registered as exactly ``id`` and ``version`` (as the Skill spells it),
        or None."""
        return self._versions.get(id, {}).get(version)

    def __contains__(self, item: object) -> bool:
        """``"id" in registry``, or ``skill in registry`` (by id and version)."""
        if isinstance(item, Skill):
            return self._versions.get(item.id, {}).get(item.version) is not None
        return isinstance(item, str) and item in self._latest

    def __len__(self) -> int:
        """The number of distinct skill ids (versions of one id count once)."""
        return len(self._latest)

    def __iter__(self) -> Iterator[Skill]:
        return iter(self.list())

    def _derived(self, id: str, requirement: str | None) -> Skill:
        """A script skill derived by ``derive``; where no skill of its first part is here,
        the id as given is what is not found (``run p:s`` of a plugin's skill that did not
        load said "no skill 'p'")."""
        assert self.derive is not None
        try:
            return self.derive(id, requirement)
        except SkillNotFoundError as exc:
            if exc.code != "skill_not_found":
                raise
            raise self.not_found(id) from None

    def not_found(self, id: str) -> SkillNotFoundError:
        name = id.rsplit(":", 1)[-1]
        for problem in self.problems:
            # A folder of that name that did not load: why, not another skill's name.
            if problem.path.name == name and "is already defined in" not in problem.reason:
                return SkillNotFoundError(
                    f"skill {id!r} was not loaded: {problem.reason}",
                    details={"skill_id": id, "path": str(problem.path)})
        known = sorted(self._latest)
        suggestions = difflib.get_close_matches(id, known, n=3, cutoff=0.6)
        lowered = id.lower()
        for other in known:  # "csv" should still point at "csv-stats"
            if len(suggestions) < 3 and other not in suggestions and lowered and (
                lowered in other.lower() or other.lower() in lowered
            ):
                suggestions.append(other)
        if suggestions:
            # In parentheses: what shows the message ends its sentence after it (MCP's
            # "... did you mean 'x'?." doubled the ending).
            hint = " (did you mean " + " or ".join(repr(s) for s in suggestions) + "?)"
        elif not known:
            hint = "; no skills are loaded"
        elif len(known) <= 10:
            hint = f"; loaded skills: {', '.join(known)}"
        else:
            hint = f" among the {len(known)} loaded skills"
        return SkillNotFoundError(f"no skill {id!r}{hint}",
                                  details={"skill_id": id, "suggestions": suggestions})

    def _no_version(self, id: str, requirement: str) -> SkillNotFoundError:
        available = self.versions(id)
        return SkillNotFoundError(
            f"skill {id!r} has no version matching {requirement!r}; "
            f"available: {', '.join(available) or 'none'}",
            code="version_not_found",
            details={"skill_id": id, "requirement": requirement, "available": available},
        )

    # -- dependencies ---------------------------------------------------------------------

    def check_dependencies(self, skill: Skill) -> None:
        """Raise DependencyError unless every skill and package ``skill`` needs, directly
        or through other skills, is there in a compatible version. Results are cached per
        registered skill until the registry changes (or :meth:`clear_cache`)."""
        cached = self._checked.get(skill.key, _UNCHECKED)
        if cached is None:
            return
        if isinstance(cached, _Failure):
            raise cached.error()
        cacheable = self._versions.get(skill.id, {}).get(skill.version) is skill
        try:
            self._check(skill, (skill,), set())
        except DependencyError as exc:
            if cacheable:
                self._checked[skill.key] = _Failure(exc.message, exc.code, exc.details)
            raise
        if cacheable:
            self._checked[skill.key] = None

    def clear_cache(self) -> None:
        """Forget dependency results, e.g. after installing packages."""
        self._checked = {}

    def _check(self, skill: Skill, path: tuple[Skill, ...], done: set[str]) -> None:
        done.add(skill.key)
        _check_packages(skill, path, skills=self._latest)
        for dep in skill.skill_dependencies:
            versions = self._versions.get(dep.id)
            who = _who(path)
            details = {"skill_id": skill.id, "dependency": dep.id,
                       "requirement": dep.requirement}
            if not versions:
                raise DependencyError(
                    f"{who} needs skill {dep.id!r} {dep.requirement}, which is not loaded",
                    code="skill_dependency_missing", details={**details, "found": []},
                )
            try:
                best = best_match(versions, dep.requirement)
            except ValueError as exc:
                raise DependencyError(f"{who}: skill dependency {dep.id!r}: {exc}",
                                      code="skill_dependency_incompatible",
                                      details=details) from None
            if best is None:
                found = self.versions(dep.id)
                raise DependencyError(
                    f"{who} needs skill {dep.id!r} {dep.requirement}, but only version"
                    f"{'s' if len(found) > 1 else ''} {', '.join(found)} "
                    f"{'are' if len(found) > 1 else 'is'} loaded",
                    code="skill_dependency_incompatible", details={**details, "found": found},
                )
            target = versions[best]
            ids = [s.id for s in path]
            if target.id in ids:
                cycle = [*ids[ids.index(target.id):], target.id]
                raise DependencyError(f"dependency cycle: {' → '.join(cycle)}",
                                      code="dependency_cycle", details={"cycle": cycle})
            if target.key not in done and self._checked.get(target.key, _UNCHECKED) is not None:
                self._check(target, (*path, target), done)


_UNCHECKED = object()
# package.json lists packages; npm's own registry refuses manifests far smaller than this.
_MAX_PACKAGE_JSON_BYTES = 1 << 20


def _latest_version(versions: dict[str, Skill]) -> str:
    parsed = {v: parse_version(v) for v in versions}
    stable = [v for v, p in parsed.items() if not p.is_prerelease]
    return max(stable or parsed, key=parsed.__getitem__)


def _who(path: tuple[Skill, ...]) -> str:
    if len(path) == 1:
        return f"skill {path[0].id!r}"
    chain = " → ".join(s.id for s in path[:-1])
    return f"skill {path[-1].id!r} (needed by {chain})"


def _check_program(skill: Skill, path: tuple[Skill, ...]) -> None:
    """A command skill needs its program (``node``, ``sh``, ...) and, for Node, the npm
    packages its package.json lists, installed where Node will look for them."""
    if skill.entry.kind is not EntryKind.COMMAND or not skill.entry.command:
        return
    program = skill.entry.command[0]
    details: dict[str, Any] = {"skill_id": skill.id, "program": program}
    if "/" not in program and shutil.which(program) is None:
        raise DependencyError(
            f"{_who(path)} runs the program {program!r}, which is not installed here "
            "(not found on PATH)", code="program_missing", details=details)
    if Path(program).name not in ("node", "nodejs") or skill.path is None:
        return
    for name, spec in _npm_dependencies(skill.path / "package.json"):
        if not any((folder / "node_modules" / name / "package.json").is_file()
                   for folder in (skill.path, *skill.path.parents)):
            wanted = f"{name!r}" + (f" {spec}" if spec else "")
            raise DependencyError(
                f"{_who(path)} needs the npm package {wanted}, which is not installed "
                f"(no node_modules/{name} in or above {skill.path}; run npm install there)",
                code="package_missing", details={**details, "package": name,
                                                 "specifier": spec, "installed": None})


def _npm_dependencies(package_json: Path) -> list[tuple[str, str]]:
    try:
        raw = read_folder_file(package_json, max_bytes=_MAX_PACKAGE_JSON_BYTES)
        data = json.loads(raw) if raw is not None else None
    except (OSError, ValueError, RecursionError):
        return []  # a package.json npm itself would reject (or none): Node reports it
    deps = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(deps, dict):
        return []
    return [(str(k), v if isinstance(v, str) else "") for k, v in deps.items()
            if isinstance(k, str) and k and ".." not in k and not k.startswith("/")]


def _check_packages(skill: Skill, path: tuple[Skill, ...], *, skills: Container[str]) -> None:
    _check_program(skill, path)
    if not runs_python(skill):
        return  # its dependencies are npm's, or the model's: no Python package of them
    for dep in skill.dependencies:
        if dep.name in skills:
            # aws-agent-skills' dependencies: [aws-orchestrator], a skill of theirs; or
            # clawsec's {"clawsec-suite": ">=0.0.10"} (as requirement_set reads them)
            continue
        installed = _installed_version(dep.name, skill.env_paths)
        details = {"skill_id": skill.id, "package": dep.name, "specifier": dep.specifier,
                   "installed": installed}
        wanted = f"{dep.name!r}" + (f" {dep.specifier}" if dep.specifier else "")
        if installed is None:
            if dep.optional:
                continue
            raise DependencyError(
                f"{_who(path)} needs the Python package {wanted}, which is not installed",
                code="package_missing", details=details,
            )
        if dep.specifier and not _satisfies(installed, dep.specifier):
            if dep.optional:
                continue
            raise DependencyError(
                f"{_who(path)} needs the Python package {wanted}, but {installed} is installed",
                code="package_incompatible", details=details,
            )


def _installed_version(name: str, env_paths: tuple[str, ...] = ()) -> str | None:
    """The version the skill imports: its environment's first, else the engine's own."""
    if name.lower() in ("python", "python3", "cpython"):
        return platform.python_version()
    if env_paths:
        for dist in importlib.metadata.distributions(name=name, path=list(env_paths)):
            return dist.version
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _satisfies(installed: str, specifier: str) -> bool:
    try:
        return SpecifierSet(specifier).contains(Version(installed), prereleases=True)
    except InvalidVersion:
        return False
