"""``skillexec skills check``: the imports of a skill's Python files that nothing provides.

Every ``import`` in every Python file of the folder (read as syntax trees, never run; at
the top level and nested in functions, classes, ``if`` and ``try``) whose top-level module
is neither in the standard library, nor a module of the skill's own files that the
importing file can import, nor installed in its environment. Each comes with the package
that usually provides it, to declare (never installed silently), unless the module is
outside the skill (a skill folder beside it, or a folder outside it that a script puts on
``sys.path``): no package provides that, and one of its name on the index is someone
else's. One the engine's interpreter provides is "borrowed" unless the skill declares
its package.
"""

from __future__ import annotations

import ast
import functools
import importlib.machinery
import importlib.metadata
import os
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from skillexec.environments.import_scan import Imported, OwnModules, read_imports, within
from skillexec.environments.modules import module_key, package_for, package_guessed, same_module
from skillexec.skills.bundle import MAX_RESOURCES, python_files, shebang_runner
from skillexec.skills.folder_files import read_folder_file
from skillexec.skills.loader import is_skill_folder
from skillexec.skills.model import Skill

__all__ = ["Coverage", "MissingImport", "coverage", "is_own_module", "missing_imports"]

_MAX_FILES = 2000
_MAX_FILE_BYTES = 2 << 20
_MAX_BESIDE = 64  # a failed script's folder: the files read for how they import a name
_MATERIAL = frozenset({"references", "reference", "assets", "templates", "examples"})
_TESTS = frozenset({"tests", "test", "testing"})
_NODE = frozenset({".js", ".mjs", ".cjs"})
_SHELL = frozenset({".sh"})


@dataclass(frozen=True, slots=True)
class MissingImport:
    module: str  # the top-level name imported
    package: str  # the distribution that usually provides it
    files: tuple[str, ...] = ()  # where (relative paths, with line numbers)
    # Every import of it is guarded by an ``except ImportError`` that falls back (one that
    # ends the program, ``sys.exit(1)``, leaves it required).
    optional: bool = False
    # Every import of it is in material for a model to read or copy (references/,
    # assets/, templates/, examples/), not in code the skill runs: its template's
    # ``import your_module`` is no package to install.
    reference: bool = False
    # Not in its environment, but in skillexec's own (installed with it, or with its test
    # extras), and the skill does not declare it: it imports here, and nowhere the skill
    # is installed without skillexec's packages.
    borrowed: bool = False
    # Only its tests import it (under tests/, or test_*.py, conftest.py): a script run
    # does not need it, and a package for them is the developer's, not the skill's.
    tests: bool = False
    # Where it is looked for outside the skill's folder ("" if not): the sandbox hides it
    # from the skill's scripts, and no package of its name is the module meant.
    outside: str = ""
    # ``outside`` says only where it may be: a folder a script puts on sys.path that
    # cannot be looked in here. Its name is only guessed into a package: not offered.
    unsure: bool = False

    @property
    def needed(self) -> bool:
        """A run of the skill's code fails without it (counted as missing)."""
        return not (self.optional or self.reference or self.tests or self.borrowed)

    @property
    def undeclared(self) -> bool:
        """Code the skill runs needs it, and only what happens to be here provides it."""
        return self.borrowed and not (self.optional or self.reference or self.tests)

    @property
    def installable(self) -> bool:
        """A package to declare or install for it: needed or borrowed, and not outside."""
        return (self.needed or self.undeclared) and not self.outside

    @property
    def guessed(self) -> bool:
        """The package is the module's name made into one, not a known mapping."""
        return package_guessed(self.module)

    def to_dict(self) -> dict[str, object]:
        return {"module": self.module, "package": self.package, "files": list(self.files),
                "optional": self.optional, "reference": self.reference,
                "borrowed": self.borrowed, "tests": self.tests,
                "outside": self.outside or None, "outside_unsure": self.unsure,
                "guessed": self.guessed}


@dataclass(frozen=True, slots=True)
class Coverage:
    """What ``missing_imports`` reads of a skill, and the scripts it cannot read: a Node
    script's ``require`` and a shell script's commands are not Python imports."""

    python: int = 0  # Python files read
    python_skipped: int = 0  # past the number of files read
    node: int = 0  # Node scripts (.js, .mjs, .cjs) among the skill's scripts
    shell: int = 0

    def unchecked(self) -> str:
        """What was not read, as a phrase ("" if everything was)."""
        parts = [(n, f"the {what} of {n} {noun}{'' if n == 1 else 's'}")
                 for n, what, noun in ((self.node, "requires", "Node script"),
                                       (self.shell, "commands", "shell script"),
                                       (self.python_skipped, "imports", "Python file"))
                 if n]
        if not parts:
            return ""
        past = f" past the first {_MAX_FILES}" if self.python_skipped else ""
        return f"{' and '.join(p for _, p in parts)}{past} are not checked"  # the requires...

    def to_dict(self) -> dict[str, int]:
        return {"python_files": self.python, "python_files_not_read": self.python_skipped,
                "node_scripts_not_checked": self.node, "shell_scripts_not_checked": self.shell}


def _python_of(skill: Skill) -> list[str]:
    """The skill's Python files (relative paths): its listing's, or where the listing is
    full (500 files), a walk of its own: a router skill of 993 Python files was checked
    on the 169 its listing held, and said every import resolved."""
    if len(skill.resources) < MAX_RESOURCES or skill.path is None:
        return [r.path for r in skill.resources if r.path.endswith(".py")]
    paths, _ = python_files(skill.path)
    return [p.relative_to(skill.path).as_posix() for p in paths]


def coverage(skill: Skill) -> Coverage:
    """What ``skills check`` reads of ``skill`` and what it leaves unread."""
    python = len(_python_of(skill))
    suffixes = [_kind(skill, s) for s in skill.scripts]
    return Coverage(python=min(python, _MAX_FILES), python_skipped=max(python - _MAX_FILES, 0),
                    node=sum(s in _NODE for s in suffixes),
                    shell=sum(s in _SHELL for s in suffixes))


def _kind(skill: Skill, script: str) -> str:
    """A script's suffix, or for one without (scnet-chat's scripts/run), what its ``#!``
    line runs, as a suffix."""
    suffix = os.path.splitext(script)[1].lower()
    if suffix or skill.path is None:
        return suffix
    return {"node": ".js", "bash": ".sh", "python": ".py"}.get(
        shebang_runner(skill.path / script) or "", "")


def missing_imports(skill: Skill, *, env_paths: Sequence[str] = (),
                    declared: Collection[str] = ()) -> list[MissingImport]:
    """The unresolved imports of ``skill``'s Python files, sorted by module. ``declared``:
    the canonical names of the packages its requirements name: one the engine's
    interpreter provides is then no borrowed module (its environment needs none)."""
    if skill.path is None:
        return []
    root = os.path.normpath(os.path.abspath(skill.path))
    scope = os.path.normpath(os.path.abspath(skill.plugin_root or skill.path))
    engine = [p for p in sys.path if p and Path(p).is_absolute()]
    every = _python_of(skill)
    own = OwnModules([*every, *(r.path for r in skill.resources)])
    seen: dict[str, _Seen] = {}
    for rel in every[:_MAX_FILES]:
        file = os.path.join(root, rel)
        tree = _parse(Path(file))
        if tree is None:
            continue  # the runner reports a file that cannot be read or parsed
        read = read_imports(tree, Path(file))
        here = os.path.dirname(file)
        paths = [_seen_from_here(p, skill.path) for p in read.paths]
        # A plugin's skills read their plugin's folder: a folder of it is in reach.
        inside = [p for p in paths if within(p, scope)]
        away = _Away(rel, [p for p in paths if not within(p, root)], read.unknown_paths,
                     root, scope)
        for imp in read.imports:
            if imp.key in sys.stdlib_module_names or own.provides(imp, here, inside, root):
                continue
            seen.setdefault(imp.key, _Seen()).add(rel, imp, away)
    missing = []
    for name in sorted(seen):
        if name in sys.builtin_module_names or _resolves(name, env_paths):
            continue
        s = seen[name]
        outside = _sibling_skill(name, skill.path) or s.away
        borrowed = not outside and _resolves(name, engine)
        if borrowed and _declares(declared, name):
            continue  # declared, and the engine's interpreter satisfies it: resolved
        # A name only guessed into a package, which names a folder of the skill or may be
        # in a folder a file puts on sys.path: most likely no package, and one of that
        # name on the index someone else's (tracking-todos' ``from scripts import x``).
        maybe = "" if outside or borrowed or not package_guessed(name) else (
            _folder_named(name, own) or s.perhaps)
        missing.append(MissingImport(
            name, package_for(name), tuple(s.files), s.optional, s.material,
            borrowed=borrowed, tests=s.tests_only and not s.material,
            outside=maybe or outside, unsure=bool(maybe)))
    return missing


@dataclass(frozen=True, slots=True)
class _Away:
    """The folders one file puts on sys.path outside the skill's folder (``folders``,
    another skill's among them), and how many it adds that only running it tells."""

    rel: str
    folders: list[str]
    unknown: int
    root: str
    scope: str  # the skill's folder, or its plugin's (which its scripts read)

    def holding(self, module: str) -> str:
        """Where ``module`` is, in a folder out of the sandbox's reach, as a phrase."""
        folder = next((f for f in self.folders if not within(f, self.scope)
                       and _resolves(module, [f])), None)
        return "" if folder is None else (
            f"{self.rel} puts {_shown(folder, self.root)} on sys.path, outside the skill's "
            "folder, and it is there")

    def perhaps(self) -> str:
        """A folder that may hold a module not found here, as a phrase ("" if none): a
        name only guessed into a package is then most likely a module there (a sibling
        skill's script that puts its own sibling on sys.path in turn)."""
        if self.folders:
            folder = self.folders[0]
            gone = "" if os.path.isdir(folder) else " and not here"
            return (f"{self.rel} puts {_shown(folder, self.root)} on sys.path, outside the "
                    f"skill's folder{gone}, which may hold it")
        return (f"{self.rel} puts on sys.path a folder that only running it tells, which "
                "may hold it") if self.unknown else ""


@dataclass(slots=True)
class _Seen:
    """What the imports of one module add up to, across the skill's files."""

    files: list[str] = field(default_factory=list)
    optional: bool = True
    material: bool = True
    tests_only: bool = True  # test files or material
    away: str = ""  # where a folder out of the sandbox's reach holds it
    perhaps: str = ""  # where a folder put on sys.path may hold it

    def add(self, rel: str, imp: Imported, away: _Away) -> None:
        self.files.append(f"{rel}:{imp.line}")
        self.optional = self.optional and imp.optional
        material = rel.split("/", 1)[0] in _MATERIAL
        self.material = self.material and material
        self.tests_only = self.tests_only and (material or _is_test(rel))
        self.away = self.away or away.holding(imp.key)
        self.perhaps = self.perhaps or away.perhaps()


def _is_test(rel: str) -> bool:
    *folders, file = rel.split("/")
    return (any(f in _TESTS for f in folders) or file.startswith("test_")
            or file.endswith("_test.py") or file == "conftest.py")


def _parse(path: Path) -> ast.Module | None:
    try:
        # (a FIFO named x.py is not read: its open and read would block)
        data = read_folder_file(path, max_bytes=_MAX_FILE_BYTES)
        if data is None or b"import" not in data:  # nothing to find: not worth a parse
            return None
        return ast.parse(data, filename=str(path))
    except (OSError, SyntaxError, ValueError, RecursionError):
        return None


def _shown(folder: str, root: str) -> str:
    """A folder as the user finds it: relative to the skill's folder when it is in the
    skills folder holding it (``../flowing/scripts``), else as it is."""
    return (os.path.relpath(folder, root)
            if within(folder, os.path.dirname(root)) else folder)


def _seen_from_here(folder: str, skill_folder: Path) -> str:
    """``folder``, or where it is here when it is not: a script written for another machine
    names ``/mnt/skills/user/image-to-svg/scripts``, and ``image-to-svg`` is a skill beside
    this one (or this one)."""
    if os.path.isdir(folder):
        return folder
    parts = Path(folder).parts
    for i, part in enumerate(parts[1:], start=1):
        beside = skill_folder.parent / part
        if part not in (".", "..") and is_skill_folder(beside):
            return os.path.normpath(os.path.join(os.path.abspath(beside), *parts[i + 1:]))
    return folder


def _folder_named(name: str, own: OwnModules) -> str:
    folders = sorted(own.folders.get(name.split(".", 1)[0], ()))
    return (f"it names the skill's folder {folders[0]}/, which is not on the importing "
            "file's path" if folders else "")


def _sibling_skill(name: str, skill_folder: Path) -> str:
    """Where ``name`` is a skill folder beside the skill's (its registry's ids are their
    folders' names) that holds a module of that name, as a phrase; "" if it is not. (Only
    one that holds it: K-Dense names its skills after the libraries they teach, and its
    'import matplotlib' is matplotlib's, not its matplotlib skill's.)"""
    top = name.split(".", 1)[0]
    beside = skill_folder.parent / top
    if not top.isidentifier() or beside == skill_folder or not is_skill_folder(beside):
        return ""
    if not any((beside / where / f"{top}.py").is_file()
               or (beside / where / top / "__init__.py").is_file()
               for where in ("", "scripts", "src", "lib")):
        return ""
    return f"it names the skill {top!r} beside this one, outside this skill's folder"


def _declares(declared: Collection[str], module: str) -> bool:
    """Whether the skill's requirements name the package providing ``module``: the one
    usually named for it (or one alike), or the distribution providing it here."""
    if not declared:
        return False
    named = {canonicalize_name(p) for p in same_module(package_for(module))}
    return bool((named | _distributions().get(module.split(".", 1)[0], frozenset()))
                & {canonicalize_name(d) for d in declared})


@functools.cache
def _distributions() -> dict[str, frozenset[str]]:
    """The engine's top-level modules, each with the distributions providing it."""
    return {module: frozenset(canonicalize_name(d) for d in dists)
            for module, dists in importlib.metadata.packages_distributions().items()}


def _resolves(name: str, search: Sequence[str]) -> bool:
    """Whether ``name`` (a top-level module, or a namespace package's ``backports.zoneinfo``)
    is found on ``search``, without importing anything."""
    *parents, last = name.split(".")
    where = [os.path.join(p, *parents) for p in search] if parents else list(search)
    return importlib.machinery.PathFinder.find_spec(last, where) is not None


def is_own_module(skill: Skill, module: str, *, beside: Path | None = None) -> bool:
    """Whether ``module`` (a dotted import name) names the skill's own files, as ``skills
    check`` decides it, for a script of the folder ``beside`` (the skill's own folder when
    None)."""
    if skill.path is None:
        return False
    root = str(skill.path.resolve())
    here = str(beside.resolve()) if beside is not None else root
    own = OwnModules(r.path for r in skill.resources)
    if own.provides(Imported(module_key(module), module, 0, False), here, (), root):
        return True
    top = module.split(".", 1)[0]
    if top not in own.folders:
        return False
    # A folder of that name is the module where the name is only guessed into a package
    # (one of that name on the index is another project), or where the script's folder
    # imports a file of it: openai-spreadsheet's examples in openpyxl/ need openpyxl.
    return package_guessed(top) or any(
        own.provides(imp, here, (), root) for imp in _imports_beside(Path(here), top))


def _imports_beside(folder: Path, top: str) -> list[Imported]:
    """The imports of ``top`` by the Python files in ``folder`` (not below it)."""
    found: list[Imported] = []
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix == ".py")[:_MAX_BESIDE]
    except OSError:
        return found
    for path in files:
        tree = _parse(path)
        if tree is not None:
            found += [i for i in read_imports(tree, path).imports
                      if i.dotted.partition(".")[0] == top]
    return found
