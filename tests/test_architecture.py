"""The shape of the package, checked: which way imports go, and who may touch what.

- No cycle between the package's parts (a subpackage, or a top-level module), counting
  every import: at module level, inside functions, and under ``TYPE_CHECKING``.
- Only the engine's clients import :mod:`skillexec.engine`: the CLI, ``_run`` and the
  package's ``__init__``. Components are given :class:`skillexec.services.Services`.
- No code touches another object's private attribute (``x._name`` where ``x`` is not
  ``self``/``cls``), except a private its own module defines (a class's privates belong to
  its module, as a merge of two sketches reads the other's counts), the standard library's
  ``os._exit``, ``sys._current_frames`` and ``_thread._count``, and ``_sunder_`` names
  (enum members).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

SRC = ROOT / "src" / "skillexec"
# Skill templates are data copied by ``skillexec skills new``, not part of the package.
TEMPLATES = SRC / "skills" / "templates"
ENGINE_CLIENTS = ("cli", "service", "mcp", "_run", "__init__")  # front ends: they hold an engine
# Documented (os, sys) or the only way to it (the interpreter's thread count, for fork).
STDLIB_PRIVATE = {("os", "_exit"), ("sys", "_current_frames"),
                  ("sys.modules['_thread']", "_count")}


def _modules(root: Path = SRC) -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        if TEMPLATES in path.parents:
            continue
        rel = path.relative_to(root.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        yield ".".join(parts), path, ast.parse(path.read_text(), str(path))


def _imports(module: str, path: Path, tree: ast.Module) -> Iterator[tuple[str, int]]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:  # "from skillexec import engine" names a module
                yield f"{target}.{alias.name}", node.lineno


def _part(module: str) -> str | None:
    """The part of the package a module belongs to: its subpackage, or itself."""
    names = module.split(".")
    return names[1] if names[0] == "skillexec" and len(names) > 1 else None


def _graph(src: Path = SRC) -> dict[str, dict[str, str]]:
    """part -> part it imports -> where (the first such import)."""
    known = {m for m, _, _ in _modules(src)}
    edges: dict[str, dict[str, str]] = {}
    for module, path, tree in _modules(src):
        here = _part(module)
        for target, line in _imports(module, path, tree):
            there = _part(target)
            if here and there and here != there and (target in known or
                                                     target.rpartition(".")[0] in known):
                edges.setdefault(here, {}).setdefault(there, f"{path}:{line}")
    return edges


def _cycles(edges: dict[str, dict[str, str]]) -> list[list[str]]:
    """Each strongly connected set of parts (Tarjan), as a list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_cycle_between_the_packages_parts() -> None:
    edges = _graph()
    cycles = _cycles(edges)
    described = [
        " -> ".join(group) + ": " + "; ".join(
            f"{a}->{b} at {edges[a][b]}" for a in group for b in group if b in edges.get(a, {}))
        for group in cycles]
    assert not cycles, "import cycles between parts of skillexec:\n" + "\n".join(described)


def test_only_clients_import_the_engine() -> None:
    found = []
    for module, path, tree in _modules():
        if module in ("skillexec", "skillexec.engine") or _part(module) in ENGINE_CLIENTS:
            continue
        found += [f"{path}:{line}" for target, line in _imports(module, path, tree)
                  if target == "skillexec.engine" or target.startswith("skillexec.engine.")]
    assert not found, "components import the engine (give them Services):\n" + "\n".join(found)


def _defined_privates(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__ entries
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if n.startswith("_")}


def _private_reaches(root: Path = SRC) -> list[str]:
    found = []
    for _, path, tree in _modules(root):
        own = _defined_privates(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            name, owner = node.attr, node.value
            if not name.startswith("_") or name.endswith("_") or name in own:
                continue  # public, dunder/sunder, or this module's own
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if (ast.unparse(owner), name) in STDLIB_PRIVATE:
                continue
            found.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_component_touches_another_objects_privates() -> None:
    found = _private_reaches()
    assert not found, "private attributes of other objects:\n" + "\n".join(found)


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    """The three checks fail on a package that breaks them (so they can fail)."""
    pkg = tmp_path / "skillexec"
    for part in ("a", "b"):
        (pkg / part).mkdir(parents=True)
        (pkg / part / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("from skillexec.b.y import f\n")
    (pkg / "b" / "y.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from skillexec.a import x\n"
        "def f(engine):\n    return engine._store\n")
    assert _cycles(_graph(pkg)) == [["a", "b"]]
    assert len(_private_reaches(pkg)) == 1


def test_the_pipeline_reads_in_one_sitting() -> None:
    """engine.py under 400 lines; no function of the pipeline over 60."""
    engine = SRC / "engine.py"
    assert len(engine.read_text().splitlines()) < 400
    long = []
    for path in (engine, *sorted((SRC / "pipeline").glob("*.py"))):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > 60:
                    long.append(f"{path}:{node.lineno}: {node.name} ({size} lines)")
    assert not long, "\n".join(long)
