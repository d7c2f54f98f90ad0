"""``skillexec skills check``: the imports of a skill's Python files that nothing provides.

Every ``import`` in every Python file of the folder (read as syntax trees, never run; at
the top level and nested in functions, classes, ``if`` and ``try``) whose top-level module
is neither in the standard library, nor a module of the skill's own folder, nor installed
in its environment or the engine's interpreter. Each comes with the package that usually
provides it, to declare (never installed silently).
"""

from __future__ import annotations

import ast
import importlib.machinery
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from skillexec.environments.modules import module_key, package_for, package_guessed
from skillexec.skills.bundle import MAX_RESOURCES, python_files, shebang_runner
from skillexec.skills.model import Skill

__all__ = ["Coverage", "MissingImport", "coverage", "is_own_module", "missing_imports"]

_MAX_FILES = 2000
_MAX_FILE_BYTES = 2 << 20
_GUARDS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})
_MATERIAL = frozenset({"references", "reference", "assets", "templates", "examples"})
_NODE = frozenset({".js", ".mjs", ".cjs"})
_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")
_SHELL = frozenset({".sh"})


@dataclass(frozen=True, slots=True)
class MissingImport:
    module: str  # the top-level name imported
    package: str  # the distribution that usually provides it
    files: tuple[str, ...] = ()  # where (relative paths, with line numbers)
    optional: bool = False  # every import of it is guarded by ``except ImportError``
    # Every import of it is in material for a model to read or copy (references/,
    # assets/, templates/, examples/), not in code the skill runs: its template's
    # ``import your_module`` is no package to install.
    reference: bool = False
    # Not in its environment, but in skillexec's own (installed with it, or with its test
    # extras): it imports here, and nowhere the skill is installed without them.
    borrowed: bool = False

    @property
    def needed(self) -> bool:
        return not (self.optional or self.reference or self.borrowed)

    @property
    def undeclared(self) -> bool:
        """Code the skill runs needs it, and only what happens to be here provides it."""
        return self.borrowed and not (self.optional or self.reference)

    @property
    def guessed(self) -> bool:
        """The package is the module's name made into one, not a known mapping."""
        return package_guessed(self.module)

    def to_dict(self) -> dict[str, object]:
        return {"module": self.module, "package": self.package, "files": list(self.files),
                "optional": self.optional, "reference": self.reference,
                "borrowed": self.borrowed, "guessed": self.guessed}


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


def missing_imports(skill: Skill, *, env_paths: Sequence[str] = ()) -> list[MissingImport]:
    """The unresolved imports of ``skill``'s Python files, sorted by module."""
    if skill.path is None:
        return []
    folder = skill.path
    engine = [p for p in sys.path if p and Path(p).is_absolute()]
    found: dict[str, tuple[list[str], bool, bool]] = {}
    every = _python_of(skill)
    files = every[:_MAX_FILES]
    own = _own_modules([*every, *(r.path for r in skill.resources)])
    for rel in files:
        path = folder / rel
        try:
            if path.stat().st_size > _MAX_FILE_BYTES:
                continue
            data = path.read_bytes()
            if b"import" not in data:  # nothing to find: not worth a parse
                continue
            tree = ast.parse(data, filename=str(path))
        except (OSError, SyntaxError, ValueError, RecursionError):
            continue  # the runner reports a file that cannot be read or parsed
        for name, line, guarded in _imports(tree):
            if (name in own or _local(name, path.parent, folder)
                    or name in sys.stdlib_module_names):
                continue
            where, all_guarded, all_material = found.get(name, ([], True, True))
            where.append(f"{rel}:{line}")
            found[name] = (where, all_guarded and guarded,
                           all_material and rel.split("/", 1)[0] in _MATERIAL)
    missing = []
    for name in sorted(found):
        if name in sys.builtin_module_names or _resolves(name, env_paths):
            continue
        where, guarded, material = found[name]
        missing.append(MissingImport(name, package_for(name), tuple(where), guarded, material,
                                     borrowed=_resolves(name, engine)))
    return missing


def _imports(tree: ast.Module) -> list[tuple[str, int, bool]]:
    """(top-level module, line, guarded by an ImportError handler) for each absolute import."""
    out: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Import):
            out.extend((module_key(a.name), node.lineno, guarded) for a in node.names)
            return
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                # from google import genai: under a namespace package, the imported name
                # may be the part that names the package (module_key stops where it does).
                first = node.names[0].name if node.names else "*"
                full = node.module if first == "*" else f"{node.module}.{first}"
                out.append((module_key(full), node.lineno, guarded))
            return
        if isinstance(node, ast.Try | ast.TryStar):
            catches = any(_catches_import_error(h) for h in node.handlers)
            for inner in node.body:
                visit(inner, guarded or catches)
            # A handler of ImportError imports the fallback (``except ImportError: from
            # backports.zoneinfo import ZoneInfo``): needed only where the first is missing.
            for handler in node.handlers:
                visit(handler, guarded or _catches_import_error(handler))
            rest: list[ast.AST] = [*node.orelse, *node.finalbody]
            for part in rest:
                visit(part, guarded)
            return
        # Imports are statements: only statement lists are walked, never an expression
        # (most of a tree's nodes; a folder of 1,000 files was checked in 9 s).
        for field in _BODIES:
            for child in getattr(node, field, ()):
                visit(child, guarded)

    visit(tree, False)
    return out


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in _GUARDS for n in names)


def _resolves(name: str, search: Sequence[str]) -> bool:
    """Whether ``name`` (a top-level module, or a namespace package's ``backports.zoneinfo``)
    is found on ``search``, without importing anything."""
    *parents, last = name.split(".")
    where = [os.path.join(p, *parents) for p in search] if parents else list(search)
    return importlib.machinery.PathFinder.find_spec(last, where) is not None


def _own_modules(paths: Iterable[str]) -> frozenset[str]:
    """What the skill's own files could be imported as, wherever they are in its folder:
    its tests put ``../scripts`` on ``sys.path`` and import ``add_blocks`` (Notion's skill
    in terrylica/cc-skills). Named as a package to install, such a module would send the
    user to whatever the package index holds under that name."""
    names: set[str] = set()
    for rel in paths:
        *folders, file = rel.split("/")
        names.update(folders)
        if file.endswith(".py"):
            names.add(file[:-3])
    return frozenset(names)


def _local(name: str, here: Path, root: Path) -> bool:
    """A module of the skill's own: beside the importing file or in a folder above it, up
    to the skill's folder (``from utils import x``, ``from core.frames import y``)."""
    folder = here
    while True:
        if (folder / f"{name}.py").is_file() or (folder / name).is_dir():
            return True
        if folder == root or root not in folder.parents:
            return False
        folder = folder.parent


def is_own_module(skill: Skill, module: str, *, beside: Path | None = None) -> bool:
    """Whether ``module`` (a dotted import name) names the skill's own files, as ``skills
    check`` decides it: a file or folder name anywhere in its folder, or a module beside
    ``beside`` (the importing file's folder) or in a folder above it, up to the skill's."""
    if skill.path is None:
        return False
    name = module_key(module)
    if name in _own_modules(r.path for r in skill.resources):
        return True
    root = skill.path.resolve()
    return beside is not None and _local(name, beside.resolve(), root)
