"""A skill's requirement set: what its environment must hold, from every place it is declared.

In order (DESIGN §3.6): the manifest's ``dependencies`` (already parsed into
``Skill.dependencies``, any of Py Copilot's three shapes), a ``requirements.txt`` or a
``pyproject.toml`` (its PEP 621 ``[project] dependencies``) in the folder or in ``scripts/``
(for a plugin's skill that runs Python and has neither, those at the plugin's top),
PEP 723 ``# /// script`` blocks in its Python scripts, and the packages an operator added
with ``skillexec skills install ID PKG``. The set is normalized (names canonical, one entry
per package, sorted) so that skills declaring the same packages share one environment.

A manifest dependency that is the name of a skill folder beside this one (a SKILL.md's
``dependencies: [aws-orchestrator]``, naming a sibling skill) is not a package: it is kept
out of the set and listed apart. Installed from the index, it would be whatever anyone
registered under that name.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from skillexec.environments.sources import (
    HashedRequirement,
    directive,
    joined_lines,
    mask_credentials,
    merged_hashes,
    refuse_uv_index,
    script_dependencies,
    split_hashes,
)
from skillexec.errors import ManifestError
from skillexec.skills.bundle import runs_python
from skillexec.skills.folder_files import FolderFileTooLarge, read_folder_file
from skillexec.skills.loader import is_skill_folder
from skillexec.skills.manifest import MAX_MANIFEST_BYTES
from skillexec.skills.model import Skill

__all__ = ["RequirementSet", "parse_requirement_lines", "pep723_block", "pep723_dependencies",
           "requirement_set"]

# PEP 723's reference regex, (?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)
# ^# ///$, read line by line (see _pep723_blocks): run by finditer, it scanned to the end of
# a run of comment lines from every opening line, and a script of 20,000 "# /// script"
# lines and no closing one took 33 s (quadratic), at each engine start and failed call.
_PEP723_OPEN = re.compile(r"# /// ([a-zA-Z0-9-]+)")
_MAX_SCRIPT_BYTES = 1 << 20  # a PEP 723 block sits at the top of a script, not in 1 MiB
_NOT_PACKAGES = frozenset({"python", "python3", "cpython"})
_FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # never "..", never a path


@dataclass(frozen=True, slots=True)
class RequirementSet:
    """The normalized requirements (``name[extras]specifier``), where each came from."""

    requirements: tuple[str, ...]
    sources: tuple[str, ...]
    skills: tuple[str, ...] = ()  # manifest dependencies that name a skill: not installed
    # ``name --hash=sha256:... ...`` per package whose lines give hashes (pip-compile's).
    hashes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The environment's folder name: the hash of the set and of the interpreter it is
        installed for (an environment is built for one Python version and platform)."""
        text = "\n".join((sys.implementation.cache_tag or "", sys.platform,
                          *self.requirements, *self.hashes))
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(Requirement(r).name for r in self.requirements)


def requirement_set(skill: Skill, extra: Iterable[str] = ()) -> RequirementSet:
    """Every package ``skill`` declares, plus ``extra``; ManifestError names a bad line."""
    found: list[Requirement] = []
    sources: list[str] = []
    skills: list[str] = []
    # (A skill that runs no Python declares packages of another kind, or for the model.)
    python = runs_python(skill)
    manifest = skill.dependencies if python else ()
    if manifest:
        sources.append("manifest")
    for dep in manifest:
        if dep.optional or dep.name.lower() in _NOT_PACKAGES:
            continue
        if _names_a_skill(dep.name, skill.path):
            skills.append(dep.name)
            continue
        found.append(_parse(f"{dep.name}{dep.specifier}", "the manifest's dependencies"))
    if skill.path is not None:
        found += _declared_in_folder(skill.path, skill.scripts, sources,
                                     scope=skill.plugin_root or skill.path)
        if python and skill.plugin_root is not None and not _own_files(skill.path):
            found += _declared_by_plugin(skill.plugin_root, skill.path, sources)
    extras = list(extra)
    if extras:
        sources.append("skills install")
        found += [_parse(e, "the packages added with skills install") for e in extras]
    return RequirementSet(_normalize(found), tuple(sources), tuple(skills),
                          merged_hashes(found))


def _declared_in_folder(folder: Path, scripts: Iterable[str], sources: list[str], *,
                        scope: Path) -> list[Requirement]:
    """The requirements of the folder's files; each file read is added to ``sources``.
    ``scope``: where a link may lead, the skill's folder or its plugin's (richfrem's skills
    link requirements.txt to their plugin's own)."""
    found: list[Requirement] = []
    for rel in ("requirements.txt", "scripts/requirements.txt"):
        file = folder / rel
        if file.is_file():
            _inside(file, scope, f"{file}: a symlink out of the skill's folder (a "
                    "requirements file is read only from inside it)")
            sources.append(rel)
            found += _requirements_file(file, scope, seen=set())
    for rel in ("pyproject.toml", "scripts/pyproject.toml"):
        file = folder / rel
        if file.is_file():
            _inside(file, scope, f"{file}: a symlink out of the skill's folder (a "
                    "pyproject.toml is read only from inside it)")
            declared = _pyproject_dependencies(file)
            if declared:
                sources.append(rel)
                found += declared
    for rel in scripts:
        if rel.endswith(".py"):
            deps = script_dependencies(folder / rel, read=pep723_dependencies,
                                       block=pep723_block)
            if deps:
                sources.append(rel)
                found += [_parse(d, f"{folder / rel}: # /// script") for d in deps]
    return found


def _own_files(folder: Path) -> bool:
    """Whether the skill's folder declares its packages in a file of its own (which then
    stands for its plugin's, as the nearest pyproject.toml is uv's project)."""
    return any((folder / rel).is_file() for rel in (
        "requirements.txt", "scripts/requirements.txt", "pyproject.toml",
        "scripts/pyproject.toml"))


def _declared_by_plugin(plugin: Path, folder: Path, sources: list[str]) -> list[Requirement]:
    """The requirements of the plugin's own ``requirements.txt`` and ``pyproject.toml``
    (``[project] dependencies``), for a skill that runs Python and declares none in a file
    of its own: a plugin ships its skills whole, and declares their packages once at its
    top (fblissjr's mece-decomposer: ``dependencies = ["orjson>=3.10"]``, which the
    ``uv run`` its SKILL.md gives reads). Each file read is added to ``sources`` by its
    path from the skill's folder (``../../pyproject.toml``), as the plugin's files are
    named to a model."""
    if plugin.resolve() == folder.resolve():
        return []  # the skill's folder is the plugin's: its files were read as its own
    found: list[Requirement] = []
    for name in ("requirements.txt", "pyproject.toml"):
        file = plugin / name
        if not file.is_file():
            continue
        _inside(file, plugin, f"{file}: a symlink out of the plugin's folder (a {name} is "
                "read only from inside it)")
        declared = (_requirements_file(file, plugin, seen=set()) if name == "requirements.txt"
                    else _pyproject_dependencies(file))
        if declared or name == "requirements.txt":
            sources.append(os.path.relpath(file, folder))
            found += declared
    return found


def _names_a_skill(name: str, folder: Path | None) -> bool:
    """Whether ``name`` is a skill folder beside ``folder`` (or ``folder`` itself): the
    skills of one folder are its registry's, whose ids are their folders' names."""
    if folder is None or not _FOLDER_NAME.fullmatch(name):
        return False
    return is_skill_folder(folder.parent / name)


def _pyproject_dependencies(file: Path) -> list[Requirement]:
    """PEP 621 ``[project] dependencies`` of ``file`` ([] without one); ManifestError
    naming the file when it is not TOML or the list is malformed, as for a requirements
    file. Its optional dependencies are a developer's extras, not the skill's needs."""
    try:
        data = tomllib.loads(_read(file))
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{file}: not valid TOML: {exc}",
                            details={"path": str(file)}) from None
    project = data.get("project")
    if not isinstance(project, dict) or "dependencies" not in project:
        return []  # a tool's settings only, or dependencies computed by its build backend
    deps = project["dependencies"]
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise ManifestError(f"{file}: [project] dependencies must be a list of requirement "
                            "strings", details={"path": str(file)})
    # A package uv takes from a path, a git URL or the workspace (``[tool.uv.sources]``):
    # the index's package of that name would be someone else's, so it is not installed.
    tool = data.get("tool")
    uv = tool.get("uv") if isinstance(tool, dict) else None
    refuse_uv_index(uv, where=str(file), sources=False)  # an index of its own: see sources
    elsewhere = uv.get("sources") if isinstance(uv, dict) else None
    local = {canonicalize_name(k) for k in elsewhere if isinstance(k, str)} \
        if isinstance(elsewhere, dict) else set()
    reqs = [_parse(d, f"{file}: [project] dependencies") for d in deps]
    return [r for r in reqs if canonicalize_name(r.name) not in local]


def parse_requirement_lines(text: str, *, where: str) -> list[Requirement]:
    """A requirements file's requirements: comments and blank lines skipped, ``\\``
    continuations joined, ``--hash`` kept with its requirement; markers for another
    platform dropped. ManifestError for an option that names an index, a source or a
    constraints file (see sources); other pip options (``-r``, followed by the folder's
    reader, ``--pre``, ...) are skipped."""
    out: list[Requirement] = []
    for number, line in joined_lines(text):
        if not line:
            continue
        at = f"{where}: line {number}"
        if line.startswith("-"):
            directive(line, where=at)
            continue
        spec, hashes = split_hashes(line, where=at)
        req = _parse(spec, at)
        if hashes:
            req = HashedRequirement(str(req), hashes)
        if req.marker is None or req.marker.evaluate():
            out.append(req)
    return out


_INCLUDE = re.compile(r"^(?:-r|--requirement)(?:\s*=\s*|\s+|(?=[^\s-]))(?P<file>\S+)$")
_MAX_INCLUDES = 16


def _requirements_file(file: Path, root: Path, *, seen: set[Path]) -> list[Requirement]:
    """A requirements file's requirements, with those of the files it includes (``-r
    base.txt``, relative to it): only files inside the skill's folder, each once. An
    include was skipped like any pip option, and a skill whose requirements.txt was only
    ``-r base.txt`` was provisioned with nothing."""
    real = file.resolve()
    if real in seen:
        return []
    seen.add(real)
    text = _read(file)
    named = text.strip()
    if named and "\n" not in named and not named.startswith("-") and (
            named.startswith(".") or "/" in named) and len(named) <= 1024 and os.path.realpath(
                file.parent / named).startswith(os.path.realpath(root) + os.sep) \
            and (file.parent / named).is_file():
        # A symlink that git stored as text (no symlinks where it was checked out, or an
        # archive): richfrem's 66 requirements.txt are "../../requirements.txt". Read as
        # the include it stands for, inside the folder as any include.
        text = f"-r {named}\n"
    out = parse_requirement_lines(text, where=str(file))
    for number, raw in enumerate(text.splitlines(), start=1):
        match = _INCLUDE.match(re.sub(r"(^|\s)#.*$", "", raw).strip())
        if match is None:
            continue
        where = f"{file}: line {number}"
        included = (file.parent / match.group("file")).resolve()
        _inside(included, root, f"{where}: {match.group('file')!r} is outside the skill's "
                "folder (an included requirements file must be inside it)")
        if not included.is_file():
            raise ManifestError(f"{where}: the included file {match.group('file')!r} does "
                                "not exist", details={"path": str(file)})
        if len(seen) >= _MAX_INCLUDES:
            raise ManifestError(f"{where}: more than {_MAX_INCLUDES} requirements files "
                                "include each other", details={"path": str(file)})
        out += _requirements_file(included, root, seen=seen)
    return out


def _inside(file: Path, root: Path, why: str) -> None:
    """ManifestError ``why`` unless ``file``, links resolved, is inside ``root``: a folder
    someone else made (a clone, an archive) could link any file the engine may read, which
    a call's error would then quote as 'not a valid requirement' (as manifests: see
    skills.manifest)."""
    if not file.resolve().is_relative_to(root.resolve()):
        raise ManifestError(why, details={"path": str(file)})


def pep723_dependencies(script: Path) -> list[str]:
    """The ``dependencies`` of a script's PEP 723 ``# /// script`` block ([] if none)."""
    deps = pep723_block(script).get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise ManifestError(f"{script}: # /// script dependencies must be a list of "
                            "requirement strings", details={"path": str(script)})
    return list(deps)


def pep723_block(script: Path) -> dict[str, Any]:
    """A script's PEP 723 ``# /// script`` block as TOML ({} if it has none or cannot be
    read); ManifestError when the block is not TOML."""
    try:
        with script.open("rb") as f:
            text = f.read(_MAX_SCRIPT_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return {}
    for kind, content in _pep723_blocks(text):
        if kind != "script":
            continue
        body = "".join((line[2:] if line.startswith("# ") else line[1:]) + "\n"
                       for line in content)
        try:
            return tomllib.loads(body)
        except tomllib.TOMLDecodeError as exc:
            raise ManifestError(f"{script}: its # /// script block is not valid TOML: {exc}",
                                details={"path": str(script)}) from None
    return {}


def _pep723_blocks(text: str) -> Iterator[tuple[str, list[str]]]:
    """The ``# /// TYPE`` blocks of ``text`` and their comment lines, as PEP 723's regex
    finds them (a block closes at the last ``# ///`` of its run of comment lines), in time
    linear in ``text``: a run without a closing line after its opening holds no block."""
    lines = text.split("\n")
    i, n = 0, len(lines)
    while i < n:
        opening = _PEP723_OPEN.fullmatch(lines[i])
        if opening is None:
            i += 1
            continue
        j, close = i + 1, -1
        while j < n and (lines[j] == "#" or lines[j].startswith("# ")):
            if lines[j] == "# ///":
                close = j
            j += 1
        if close > i + 1:  # at least one line of content, each followed by its newline
            yield opening.group(1), lines[i + 1:close]
            i = close + 1
        else:
            i = max(j, i + 1)


def _read(file: Path) -> str:
    try:
        data = read_folder_file(file, max_bytes=MAX_MANIFEST_BYTES)
    except FolderFileTooLarge as exc:
        raise ManifestError(str(exc), details={"path": str(file), "size": exc.size}) from None
    except OSError as exc:
        raise ManifestError(f"{file}: cannot be read: {exc.strerror or exc}",
                            details={"path": str(file)}) from None
    if data is None:  # replaced meanwhile by a FIFO, a device, a folder
        raise ManifestError(f"{file}: not a regular file", details={"path": str(file)})
    return data.decode("utf-8", errors="replace")


# A requirements line that is a URL or a path rather than a package's name (pip's
# ``git+https://...``, ``./vendor/pkg``, ``dist/x.whl``): packaging's own message for it
# ("Expected semicolon (after name with no version specifier)") names nothing a user wrote.
_URL_OR_PATH = re.compile(r"^(?:[A-Za-z][\w+.-]*://|(?:git|hg|svn|bzr)\+|\.{1,2}(?:/|$)|/|~)"
                          r"|\.(?:whl|zip|tar\.gz|tgz|tar\.bz2)$")


def _parse(text: str, where: str) -> Requirement:
    text = mask_credentials(text)  # quoted below: the author's credentials go nowhere
    if _URL_OR_PATH.search(text):
        raise ManifestError(f"{where}: {text!r} is a URL or a path, not a package; name a "
                            "package and a version instead (skillexec installs packages "
                            "by name, so that skills with the same set share an environment)",
                            details={"requirement": text})
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        problem = str(exc).splitlines()[0] if str(exc) else "not a requirement"  # no caret
        raise ManifestError(f"{where}: {text!r} is not a valid requirement: {problem}",
                            details={"requirement": text}) from None
    if req.url:
        # A URL installs whatever it serves: not a set two skills can share by name.
        raise ManifestError(f"{where}: {text!r} is a URL requirement; name a package and "
                            "a version instead", details={"requirement": text})
    return req


def _normalize(reqs: list[Requirement]) -> tuple[str, ...]:
    """One entry per package: extras and specifiers merged, markers evaluated."""
    merged: dict[str, tuple[set[str], set[str]]] = {}
    for req in reqs:
        if req.marker is not None and not req.marker.evaluate():
            continue
        extras, specs = merged.setdefault(canonicalize_name(req.name), (set(), set()))
        extras.update(e.lower() for e in req.extras)
        specs.update(str(s) for s in req.specifier)
    out = []
    for name, (extras, specs) in sorted(merged.items()):
        ext = f"[{','.join(sorted(extras))}]" if extras else ""
        out.append(f"{name}{ext}{','.join(sorted(specs))}")
    return tuple(out)
