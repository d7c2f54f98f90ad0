"""What ``skills check`` reads of one Python file, from its syntax tree (never run): the
modules it imports, whether a fallback guards each, and the folders it puts on
``sys.path`` as far as they can be told (``Path(__file__).parent.parent / "scripts"``);
and which of its imports the skill's own files provide (``OwnModules``).

A folder a script puts on its path decides where its imports come from: the skill's own
files there, or a sibling skill's module outside its folder (image-to-svg adds
``../flowing/scripts`` and imports ``flowing``), which the sandbox hides and which no package
of that name on the index provides.
"""

from __future__ import annotations

import ast
import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from skillexec.environments.modules import module_key

__all__ = ["FileImports", "Imported", "OwnModules", "read_imports", "within"]

_GUARDS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})
_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")
# Calls that end the program: a handler making them leaves the import required.
_ENDS = frozenset({"sys.exit", "exit", "quit", "os._exit", "os.abort"})
_SAME = frozenset({"str", "os.fspath", "os.path.abspath", "os.path.realpath",
                   "os.path.normpath", "os.path.expanduser"})
_PATHS = frozenset({"Path", "pathlib.Path", "PurePath", "PosixPath", "os.path.join"})
_KEEP = frozenset({"resolve", "absolute", "expanduser"})  # same folder, told without running
_DEPTH = 24
_Sub = Callable[[ast.expr], "str | None"]


@dataclass(frozen=True, slots=True)
class Imported:
    key: str  # the part naming its distribution (module_key)
    dotted: str  # as imported: ``lib.util`` for ``from lib import util``
    line: int
    optional: bool  # a handler of ImportError falls back (assigns, passes, sets a flag)


@dataclass(frozen=True, slots=True)
class FileImports:
    imports: tuple[Imported, ...]
    paths: tuple[str, ...]  # absolute, normalized folders it puts on sys.path
    unknown_paths: int  # additions to sys.path whose folder needs running it to tell


def read_imports(tree: ast.Module, file: Path) -> FileImports:
    """``tree`` (parsed from ``file``, an absolute path) read for imports and sys.path."""
    reader = _Reader()
    reader.visit(tree, False)
    told = [_folder(arg, reader.names, str(file)) for arg in reader.added]
    paths = tuple(dict.fromkeys(os.path.normpath(p) for p in told if p is not None))
    imports = reader.imports
    if refused := reader.refused():
        imports = [dataclasses.replace(imp, optional=False) if n in refused else imp
                   for n, imp in enumerate(imports)]
    return FileImports(tuple(imports), paths, sum(p is None for p in told))


class _Reader:
    """One walk of a file's statement lists (never its expressions: most of a tree's nodes,
    and a folder of 1,000 files was checked in 9 s)."""

    def __init__(self) -> None:
        self.imports: list[Imported] = []
        self.added: list[ast.expr | None] = []  # None: an addition that cannot be told
        self.names: dict[str, ast.expr] = {}  # NAME = value, first assignment of each
        # Each fallback's imports (their indexes) and the names it binds (the modules',
        # and flags: svgwrite = None, HAS_SVG = False); and the ifs that end the program.
        self.fallbacks: list[tuple[range, frozenset[str]]] = []
        self.ending_ifs: list[ast.expr] = []

    def visit(self, node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Import):
            self.imports.extend(Imported(module_key(a.name), a.name, node.lineno, guarded)
                                for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                # from google import genai: under a namespace package, the imported name
                # may be the part that names the package (module_key stops where it does).
                first = node.names[0].name if node.names else "*"
                full = node.module if first == "*" else f"{node.module}.{first}"
                self.imports.append(Imported(module_key(full), full, node.lineno, guarded))
        elif isinstance(node, ast.Try | ast.TryStar):
            self._try(node, guarded)
        else:
            if isinstance(node, ast.If) and _ends_body(node.body):
                self.ending_ifs.append(node.test)
            self._statement(node)
            for field in _BODIES:
                for child in getattr(node, field, ()):
                    self.visit(child, guarded)

    def _try(self, node: ast.Try | ast.TryStar, guarded: bool) -> None:
        # The first handler that catches a missing module decides: one that ends the
        # program (sys.exit, raise) leaves the import required (qr-code-generator's
        # ``except ImportError: print(...); sys.exit(1)``); one that falls back makes it
        # optional.
        catcher = next((h for h in node.handlers if _catches_import_error(h)), None)
        falls_back = catcher is not None and not _ends(catcher)
        first = len(self.imports)
        for inner in node.body:
            self.visit(inner, guarded or falls_back)
        if falls_back and catcher is not None and len(self.imports) > first:
            self.fallbacks.append((range(first, len(self.imports)),
                                   _bound([*node.body, *catcher.body])))
        # A handler of ImportError imports the fallback (``except ImportError: from
        # backports.zoneinfo import ZoneInfo``): needed only where the first is missing.
        for handler in node.handlers:
            self.visit(handler, guarded or _catches_import_error(handler))
        for part in (*node.orelse, *node.finalbody):
            self.visit(part, guarded)

    def refused(self) -> set[int]:
        """The imports a fallback guards in vain: the program ends where the fallback is
        met (svg_generator's ``except ImportError: svgwrite = None``, then ``if svgwrite
        is None: raise ImportError(...)`` in the class every run uses). Such an ``if``'s
        test names only what the fallback binds: one on other things too (an option
        asking for the feature) leaves the import optional."""
        found: set[int] = set()
        for test in self.ending_ifs:
            named = {n.id for n in ast.walk(test) if isinstance(n, ast.Name)}
            if not named:
                continue
            for indexes, bound in self.fallbacks:
                if named <= bound:
                    found.update(indexes)
        return found

    def _statement(self, node: ast.AST) -> None:
        """Remember a name's value, and what the statement puts on sys.path."""
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    self.names.setdefault(target.id, node.value)
                elif _dotted(target) == "sys.path" or (
                        isinstance(target, ast.Subscript) and _dotted(target.value) == "sys.path"):
                    self.added.extend(_listed(node.value))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = node.value
            func = _dotted(call.func)
            if func in ("sys.path.insert", "sys.path.append", "site.addsitedir") and call.args:
                self.added.append(call.args[-1] if func != "site.addsitedir" else call.args[0])
            elif func == "sys.path.extend" and call.args:
                self.added.extend(_listed(call.args[0]))


def _listed(node: ast.expr) -> list[ast.expr | None]:
    """The entries of ``[a, b] + sys.path``-style values (None where not a literal list)."""
    if isinstance(node, ast.List | ast.Tuple):
        return list(node.elts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [e for side in (node.left, node.right) if _dotted(side) != "sys.path"
                for e in _listed(side)]
    return [None]


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in _GUARDS for n in names)


def _ends(handler: ast.ExceptHandler) -> bool:
    """Whether the handler always ends the program (or raises on): a statement of its own
    body, not one under an ``if``, raises or calls ``sys.exit``."""
    return _ends_body(handler.body)


def _bound(body: list[ast.stmt]) -> frozenset[str]:
    """The names the statements of ``body`` (not nested ones) bind: imports' and
    assignments' (``import svgwrite``, ``svgwrite = None``, ``HAS_SVG = False``)."""
    names: set[str] = set()
    for stmt in body:
        if isinstance(stmt, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in stmt.names)
        elif isinstance(stmt, ast.ImportFrom):
            names.update(a.asname or a.name for a in stmt.names)
        elif isinstance(stmt, ast.Assign):
            names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.add(stmt.target.id)
    return frozenset(names)


def _ends_body(body: list[ast.stmt]) -> bool:
    for stmt in body:
        if isinstance(stmt, ast.Raise):
            return True
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) \
                and _dotted(stmt.value.func) in _ENDS:
            return True
    return False


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a name or an attribute chain, else ""."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([node.id, *reversed(parts)])


def _folder(node: ast.expr | None, names: dict[str, ast.expr], file: str) -> str | None:
    """The absolute folder an expression names, where it can be told without running it:
    built from ``__file__`` and string constants (``Path(__file__).resolve().parents[1] /
    "scripts"``, ``os.path.join(os.path.dirname(__file__), "..")``, a name assigned one of
    those, an absolute path); None otherwise (a relative path is the workspace's)."""
    value = _value(node, names, file, 0) if node is not None else None
    return value if value is not None and os.path.isabs(value) else None


def _value(node: ast.expr, names: dict[str, ast.expr], file: str, depth: int) -> str | None:
    if depth > _DEPTH:
        return None

    def sub(n: ast.expr) -> str | None:
        return _value(n, names, file, depth + 1)

    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.Name):
        if node.id == "__file__":
            return file
        return sub(names[node.id]) if node.id in names else None
    if isinstance(node, ast.Attribute) and node.attr == "parent":
        inner = sub(node.value)
        return os.path.dirname(inner) if inner else None
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
            and node.value.attr == "parents" and isinstance(node.slice, ast.Constant) \
            and isinstance(node.slice.value, int) and 0 <= node.slice.value < 32:
        inner = sub(node.value.value)
        for _ in range(node.slice.value + 1):
            inner = os.path.dirname(inner) if inner else None
        return inner
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _joined([sub(node.left), sub(node.right)])
    if isinstance(node, ast.Call) and not node.keywords:
        return _called(node, sub)
    return None


def _called(node: ast.Call, sub: _Sub) -> str | None:
    func = _dotted(node.func)
    args = node.args
    if func in _SAME and len(args) == 1:
        return sub(args[0])
    if func == "os.path.dirname" and len(args) == 1:
        inner = sub(args[0])
        return os.path.dirname(inner) if inner else None
    if func in _PATHS and args:
        return _joined([sub(a) for a in args])
    if isinstance(node.func, ast.Attribute) and node.func.attr in _KEEP and not args:
        return sub(node.func.value)
    if isinstance(node.func, ast.Attribute) and node.func.attr == "joinpath":
        return _joined([sub(node.func.value), *(sub(a) for a in args)])
    return None


def _joined(parts: list[str | None]) -> str | None:
    if not parts or any(p is None for p in parts):
        return None
    return os.path.join(*(p for p in parts if p is not None))


def within(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it (both normalized absolute paths)."""
    return path == root or path.startswith(root + os.sep)


class OwnModules:
    """What the skill's own files can be imported as. ``listing``: their relative paths.

    A ``.py`` file anywhere is its own module (its tests put ``../scripts`` on ``sys.path``
    and import ``add_blocks``: Notion's skill in terrylica/cc-skills), and so is a package
    (a folder holding ``__init__.py``). A folder without one counts only where the
    importing file can import it (beside the file, or in a folder the file puts on its
    path), or where the import names a file in it (``from lib.util import X``, with
    ``lib/util.py``): openai-spreadsheet's ``references/examples/openpyxl/`` of examples
    is no module ``openpyxl``, and its examples need the package."""

    def __init__(self, listing: Iterable[str]) -> None:
        self.stems: set[str] = set()
        self.packages: set[str] = set()
        self.folders: dict[str, set[str]] = {}  # a folder's name: its relative paths
        self.entries: set[str] = set()  # every file and folder (relative paths)
        for rel in listing:
            *dirs, file = rel.split("/")
            self.entries.add(rel)
            for i, name in enumerate(dirs, start=1):
                self.folders.setdefault(name, set()).add("/".join(dirs[:i]))
                self.entries.add("/".join(dirs[:i]))
            if file.endswith(".py"):
                self.stems.add(file[:-3])
                if file == "__init__.py" and dirs:
                    self.packages.add(dirs[-1])

    def provides(self, imp: Imported, here: str, added: Sequence[str], root: str) -> bool:
        """Whether ``imp``, imported by a file of the folder ``here``, is the skill's own
        (``added``: the folders in the skill that the file puts on sys.path)."""
        top, _, rest = imp.dotted.partition(".")
        if top in self.stems or top in self.packages:
            return True
        for folder in (here, *added):
            if os.path.isfile(os.path.join(folder, f"{top}.py")) \
                    or os.path.isdir(os.path.join(folder, top)):
                return True
        if _above(top, here, root):
            return True
        part = rest.split(".", 1)[0]
        return bool(part) and any(f"{f}/{part}" in self.entries or f"{f}/{part}.py" in
                                  self.entries for f in self.folders.get(top, ()))


def _above(name: str, here: str, root: str) -> bool:
    """A module ``name`` (a file, or a package) in a folder above ``here``, up to the
    skill's folder (``from utils import x`` with the skill's folder on the path)."""
    folder = here
    while folder != root and within(folder, root):
        folder = os.path.dirname(folder)
        if os.path.isfile(os.path.join(folder, f"{name}.py")) \
                or os.path.isfile(os.path.join(folder, name, "__init__.py")):
            return True
    return False
