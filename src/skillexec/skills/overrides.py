"""The operator's word on a skill, from ``skillexec.toml`` ``[skills.<id>]`` (DESIGN §3.5).

Py Copilot's manifests name their entry as a path inside the Py Copilot host
(``app.skills.skills.data-analysis``); ``entry = "data_analysis.py:DataAnalysisSkill.run"``
names the real one without editing the third-party folder: a function, or a class's method
(the class made without arguments, the method called with the parameters as keywords).
Checked from the file's syntax tree, never by importing it.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from skillexec.skills.folder_files import MAX_PARSED_BYTES, read_folder_file
from skillexec.skills.model import Entry, EntryKind, Skill

__all__ = ["override_entry"]


def override_entry(skill: Skill, text: str) -> Skill:
    """``skill`` with the entry ``text`` names; an entry that cannot be found makes it
    unrunnable, with the reason (listed, refused at each call), never a load failure."""
    entry = _resolve(skill, text.strip())
    return dataclasses.replace(skill, entry=entry, warnings=(
        *skill.warnings, f"skillexec.toml: entry {text!r} overrides the manifest's entry"))


def _resolve(skill: Skill, text: str) -> Entry:
    said = f"the operator's entry {text!r} (skillexec.toml [skills.{skill.id}])"
    file_part, sep, attr = text.partition(":")
    if skill.path is None:
        return Entry(EntryKind.NONE, reason=f"{said}: the skill has no folder")
    if not sep or not file_part or not attr or attr.count(".") > 1 or not all(
            p.isidentifier() for p in attr.split(".")):
        return Entry(EntryKind.NONE, reason=f"{said} is not 'file.py:function' or "
                                             "'file.py:Class.method'")
    folder = skill.path.resolve()
    file = (folder / file_part).resolve()
    if not file.is_relative_to(folder):
        return Entry(EntryKind.NONE, reason=f"{said} points outside the skill folder")
    if file.suffix != ".py" or not file.is_file():
        return Entry(EntryKind.NONE, reason=f"{said}: no Python file {file_part!r} in "
                                             f"{folder}")
    problem = _defines(file, attr.split("."))
    if problem:
        return Entry(EntryKind.NONE, reason=f"{said}: {problem}")
    return Entry(EntryKind.PYTHON, file=file, attr=attr)


def _defines(file: Path, names: list[str]) -> str:
    """'' when ``file`` defines ``names`` (a function or class, then a method in it)."""
    try:
        data = read_folder_file(file, max_bytes=MAX_PARSED_BYTES)
    except ValueError:
        return ""  # too large to parse here: its own confined import says if it is not
    try:
        tree = ast.parse(data if data is not None else b"", filename=str(file))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return f"{file.name} cannot be parsed: {exc}"
    top = {n.name: n for n in tree.body
           if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    node = top.get(names[0])
    if node is None:
        return f"{file.name} defines no {names[0]!r} at its top level"
    if len(names) == 1:
        return ""
    if not isinstance(node, ast.ClassDef):
        return f"{names[0]!r} in {file.name} is not a class"
    methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    if names[1] not in methods:
        return f"class {names[0]} in {file.name} has no method {names[1]!r}"
    return ""
