"""Front matter fields that a family of skills writes in a shape of its own, recognised
rather than misread.

The cc-skills family (rickydwilson-dcs/claude-skills' 40 SKILL.md) writes
``dependencies: {scripts: [x.py], references: [guide.md], assets: []}``: the skill's own
files by folder, not packages (read as packages, ``scripts`` was a package with the
"invalid version specifier" ``['x.py', ...]``). It writes ``compatibility:
{python-version: 3.8+, platforms: [macos, linux]}`` too, where the Agent Skills
specification has a sentence: said to be text, with the sentence it would make, not that
it is too long.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compatibility_problem", "names_own_files"]

# The folders a skill keeps its own files in (skills.bundle's BUNDLE_DIRS, and a few more
# such a listing names); never an ecosystem's name (fields' "python", "npm", "system").
_OWN_FOLDERS = frozenset({"scripts", "bin", "references", "reference", "assets", "templates",
                          "template", "examples", "example", "tests", "test", "fixtures",
                          "resources", "docs", "data", "lib", "files"})
_MAX_COMPATIBILITY = 500  # the specification's limit


def names_own_files(raw: Any) -> bool:
    """Whether a ``dependencies`` mapping lists the skill's own files by folder (each key
    one of its folders, each value a list of file names, or nothing): no package of it."""
    return isinstance(raw, dict) and bool(raw) and all(
        isinstance(k, str) and k.lower() in _OWN_FOLDERS and (
            v is None or (isinstance(v, list) and all(isinstance(f, str) for f in v)))
        for k, v in raw.items())


def compatibility_problem(value: Any) -> str | None:
    """What is wrong with a front matter's ``compatibility`` (None if nothing is)."""
    if value is None or (isinstance(value, str) and len(value) <= _MAX_COMPATIBILITY):
        return None
    if isinstance(value, dict | list):
        kind = "a mapping" if isinstance(value, dict) else "a list"
        return (f"'compatibility' must be text, not {kind}: one sentence of at most "
                f"{_MAX_COMPATIBILITY} characters, such as {_as_text(value)!r}")
    return f"'compatibility' must be text of at most {_MAX_COMPATIBILITY} characters"


def _as_text(value: dict[Any, Any] | list[Any]) -> str:
    """``{python-version: 3.8+, platforms: [macos, linux]}`` as the sentence it stands for:
    ``python-version 3.8+; platforms macos, linux``."""
    def said(v: Any) -> str:
        return ", ".join(map(str, v)) if isinstance(v, list) else str(v)
    parts = ([f"{k} {said(v)}" for k, v in value.items()] if isinstance(value, dict)
             else [said(v) for v in value])
    text = "; ".join(parts)
    return text if len(text) <= 200 else text[:199] + "…"
