"""Which code a skill folder runs: its entry point resolved from the manifest's
``entry_point``, ``command`` or ``main_file``, else ``main.py`` / ``skill.py``, never outside
the folder. Files are read as syntax trees, never imported: a skill's code runs only in its
runner.
"""

from __future__ import annotations

import ast
import re
import shlex
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from skillexec.errors import ManifestError
from skillexec.skills.fields import brief
from skillexec.skills.folder_files import python_tree
from skillexec.skills.manifest import ManifestDoc
from skillexec.skills.model import Entry, EntryKind

__all__ = ["EntryResolver"]

# As skillexec.scripts.INTERPRETERS runs the same files as bundled scripts: a .sh with
# bash's syntax (arrays, [[ ]]) failed as an entry under sh and ran as a script.
_SCRIPT_RUNNERS = {".js": "node", ".mjs": "node", ".cjs": "node", ".sh": "bash"}


class EntryResolver(ABC):
    """The entry part of the manifest builder (loader._Builder): it gives the merged
    fields, the folder, and how a field's problem is reported."""

    folder: Path
    strict: bool
    docs: list[ManifestDoc]
    fields: dict[str, Any]

    @abstractmethod
    def fail(self, key: str, problem: str) -> ManifestError:
        """Given by the builder."""

    @abstractmethod
    def warn(self, key: str, problem: str) -> None:
        """Given by the builder."""

    @abstractmethod
    def _rank(self, key: str) -> int:
        """Given by the builder."""

    def _checked_entry(self) -> Entry:
        try:
            return self._entry()
        except OSError as exc:  # a name too long for the file system, a loop of symlinks
            key = next((k for k in ("command", "entry_point", "main_file")
                        if self.fields.get(k) not in (None, "", [])), "entry_point")
            raise self.fail(key, f"names a path this system cannot use: "
                                 f"{exc.strerror or type(exc).__name__}") from None

    def _entry(self) -> Entry:
        command = self.fields.get("command")
        point = self.fields.get("entry_point")
        if command not in (None, "", []) and (
            point in (None, "") or self._rank("command") <= self._rank("entry_point")
        ):
            return self._command_entry(command)
        names_package = False
        if point not in (None, ""):
            if not isinstance(point, str):
                raise self.fail("entry_point", f"must be text, not {brief(point)}")
            entry = self._entry_from_point(point.strip())
            if entry is not None:
                return entry
            names_package = _names_package(point.strip(), self.folder.name)
            if names_package:
                entry = self._package_entry()
                if entry is not None:
                    return entry
            else:
                problem = f"{brief(point)} names no file in {self.folder}"
                if self.strict:
                    raise self.fail("entry_point", problem)
                self.warn("entry_point", problem)
        main_file = self.fields.get("main_file")
        if main_file is not None and not isinstance(main_file, str):
            raise self.fail("main_file", f"must be text, not {brief(main_file)}")
        if isinstance(main_file, str) and main_file.strip():
            path = self._inside("main_file", main_file.strip())
            if path.is_file():
                return Entry(EntryKind.PYTHON, file=path)
        # Only with an execute(): openclaw's expense tracker's main.py is a REPL, and was
        # published as a tool that failed on every call (and not as the script it is).
        if _defines_execute(self.folder / "main.py"):
            return Entry(EntryKind.PYTHON, file=self.folder / "main.py")
        if _defines_execute(self.folder / "skill.py"):
            return Entry(EntryKind.PYTHON, file=self.folder / "skill.py")
        return Entry(EntryKind.NONE, reason=self._no_entry_reason(point, names_package))

    def _package_entry(self) -> Entry | None:
        """Py Copilot's ``app.skills.skills.<folder>`` names the folder as a package: its
        ``__init__.py``, or the module named after it (``data_analysis.py``), if either
        defines ``execute``."""
        for name in ("__init__.py", self.folder.name.replace("-", "_") + ".py"):
            if _defines_execute(self.folder / name, unreadable=False):
                return Entry(EntryKind.PYTHON, file=self._inside("entry_point", name))
        return None

    def _no_entry_reason(self, point: Any, names_package: bool) -> str:
        """Why nothing here can run, in words that continue "has no executable entry: "."""
        if names_package:
            said = (f"entry_point {brief(point)} is a Py Copilot package path (only the Py Copilot "
                    "host can import it)")
        elif point not in (None, ""):
            said = f"entry_point {brief(point)} names no file in the folder"
        elif all(d.path.name == "SKILL.md" for d in self.docs):
            said = "SKILL.md gives no metadata.entry_point or metadata.command"
        else:
            said = "no entry_point, command or main_file is given"
        sources = sorted(p.name for p in self.folder.glob("*.py") if p.is_file())
        shown = ", ".join(sources[:3]) + (", ..." if len(sources) > 3 else "")
        if sources and all(_runs_as_script(self.folder / name) for name in sources[:20]):
            # Py Copilot's xlsx: recalc.py is a command-line script, not an entry to name.
            return (f"{said}, and its Python files ({shown}) are scripts (each has an "
                    "`if __name__ == \"__main__\"` block): they run with `skillexec script`, "
                    "not as its entry")
        if sources:
            how = ("name one in entry_point as 'file:function', or in skillexec.toml "
                   f"[skills.{self.folder.name}] entry = '{sources[0]}:Class.method'"
                   if names_package else "name one in entry_point as 'file:function'")
            return (f"{said}, and there is no main.py or skill.py with an execute() "
                    f"(Python files: {shown}; {how})")
        # "at its top level": its bundled scripts (scripts/, bin/) may well be Python.
        if any(d.path.name == "SKILL.md" for d in self.docs):
            return (f"{said}, and the folder has no Python file at its top level (SKILL.md is "
                    "instructions for a model)")
        return f"{said}, and the folder has no Python file at its top level"

    def _command_entry(self, command: Any) -> Entry:
        if isinstance(command, str):
            try:
                argv = shlex.split(command)
            except ValueError as exc:
                raise self.fail("command", f"cannot be split into arguments: {exc}") from None
        elif isinstance(command, list) and all(isinstance(a, str) for a in command):
            argv = list(command)
        else:
            raise self.fail("command", f"must be a command line or a list, not {brief(command)}")
        for arg in argv[1:]:
            looks_like_script = Path(arg).suffix in (".py", *_SCRIPT_RUNNERS)
            if looks_like_script and not self._inside("command", arg).is_file():
                if self.strict:
                    raise self.fail("command", f"runs {arg!r}, which is not in the folder")
                self.warn("command", f"runs {arg!r}, which is not in the folder")
        return Entry(EntryKind.COMMAND, command=tuple(argv))

    def _entry_from_point(self, point: str) -> Entry | None:
        module, _, attr = point.partition(":") if ":" in point else (point, "", "")
        suffix = Path(module).suffix
        if suffix in _SCRIPT_RUNNERS:
            path = self._inside("entry_point", module)
            if not path.is_file():
                return None
            rel = path.relative_to(self.folder).as_posix()
            return Entry(EntryKind.COMMAND, command=(_SCRIPT_RUNNERS[suffix], rel))
        file = self._module_file(module)
        if file is None and not attr and "." in module and suffix != ".py":
            # "main.execute": the last component is the attribute, not a module.
            module, _, attr = module.rpartition(".")
            file = self._module_file(module)
        if file is None and attr and isinstance(self.fields.get("main_file"), str):
            file = self._module_file(self.fields["main_file"])
        if file is None:
            return None
        if attr and (names := _top_level_names(file)) is not None and attr not in names:
            # Found without running it: such a skill is refused, not failed at its first call.
            defined = ", ".join(sorted(n for n in names if not n.startswith("_"))[:8])
            return Entry(EntryKind.NONE, reason=(
                f"entry_point {point!r}: {file.name} defines no {attr!r}"
                + (f" (it defines {defined})" if defined else "")))
        return Entry(EntryKind.PYTHON, file=file, attr=attr or None)

    def _module_file(self, module: str) -> Path | None:
        if not module:
            return None
        if module.endswith(".py") or "/" in module or "\\" in module:
            rel = module if module.endswith(".py") else module + ".py"
            path = self._inside("entry_point", rel)
            return path if path.is_file() else None
        parts = module.split(".")
        if not all(parts):
            return None
        for i in range(len(parts)):  # the longest dotted suffix that is a file here
            path = self.folder.joinpath(*parts[i:]).with_suffix(".py")
            if path.is_file():
                return self._inside("entry_point", str(path.relative_to(self.folder)))
        return None

    def _inside(self, key: str, rel: str) -> Path:
        path = (self.folder / rel).resolve()
        if not path.is_relative_to(self.folder):
            link = next((p for p in (self.folder / rel, *(self.folder / rel).parents)
                         if p.is_symlink()), None)
            via = f" (through the symlink {link.name!r})" if link is not None else ""
            raise self.fail(key, f"{rel!r} points outside the skill folder{via}: to {path}")
        return path


def _names_package(point: str, folder_name: str) -> bool:
    """``app.skills.skills.data-analysis``: a dotted path to the skill's own package."""
    parts = [p for p in re.split(r"[.:/]", point) if p]
    return bool(parts) and (parts[-1] == folder_name
                            or (len(parts) > 2 and parts[:2] == ["app", "skills"]))


def _runs_as_script(path: Path) -> bool:
    """Does this file run as a program (a module-level ``if __name__ == "__main__":``)?"""
    tree = python_tree(path)
    return tree is not None and any(
        isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__"
                for c in node.test.comparators)
        for node in tree.body)


def _defines_execute(path: Path, *, unreadable: bool = True) -> bool:
    """Does this file define ``execute``, as a function, a name or a class's method?
    A file that cannot be parsed counts as ``unreadable`` says (True: let the runner
    report the real import error)."""
    if not path.is_file():
        return False
    tree = python_tree(path)
    if tree is None:
        return unreadable
    names = {"execute", "execute_async"}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names:
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in names for t in node.targets):
            return True
        if isinstance(node, ast.ClassDef) and any(
            isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name in names
            for n in node.body):
            return True
    return False


def _top_level_names(path: Path) -> set[str] | None:
    """The names a module defines at its top level, read from its syntax tree (never run);
    None when that cannot be known (unparsable, ``import *``, a module ``__getattr__``,
    ``globals()`` written to)."""
    tree = python_tree(path)
    if tree is None:
        return None
    names: set[str] = set()
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
                elif isinstance(sub, ast.Name) and sub.id in ("globals", "vars", "setattr"):
                    return None
                elif isinstance(sub, ast.stmt) and sub is not node and isinstance(
                        sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
                        | ast.Import | ast.ImportFrom):
                    todo.append(sub)  # defined inside if/try/with at the top level
    return None if "__getattr__" in names else names
