"""A Node script that ended on an npm package nothing installed: which package, and what
the skill's own package.json says of it.

skillexec provisions Python environments, not npm's: a Node skill's packages are its
folder's ``node_modules``, made by ``npm install``. Without them the script ends on Node's
``Cannot find package 'coderio'``; the user is told the package, whether a package.json of
the skill lists it, and where to run ``npm install``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from skillexec.skills.folder_files import read_folder_file

__all__ = ["missing_npm_package", "npm_message"]

# Node's words for an import nothing resolves: CommonJS's require and ESM's import. A
# relative or absolute specifier is a file of the script's own, not a package.
_NOT_FOUND = re.compile(
    r"Cannot find (?:module|package) '((?:@[\w.-]{1,214}/)?[\w.-]{1,214})(?:/[^']{0,400})?'",
    re.ASCII)
_MAX_PACKAGE_JSON = 1 << 20


def missing_npm_package(stderr: str) -> str | None:
    """The npm package a Node script ended on (its last such line), or None."""
    found = None
    for line in stderr[-8000:].splitlines():
        m = _NOT_FOUND.search(line)
        if m and not m.group(1).startswith("."):
            found = m.group(1)
    return found


def npm_message(package: str, *, skill_id: str, folder: Path | None,
                script: Path | None) -> str:
    """What to do about ``package``: the package.json of the skill that lists it (from the
    script's folder up to the skill's), where ``npm install`` makes it."""
    listed = _listing(package, folder, script)
    if listed is not None:
        return (f"skill {skill_id!r}: the script cannot import the npm package {package!r}, "
                f"which {listed / 'package.json'} lists but nobody installed: run npm "
                f"install in {listed}")
    return (f"skill {skill_id!r}: the script cannot import the npm package {package!r}, "
            "which no package.json of the skill lists: add it to one and run npm install "
            "there")


def _listing(package: str, folder: Path | None, script: Path | None) -> Path | None:
    if folder is None or script is None:
        return None
    top = folder.resolve()
    here = script.parent
    while True:
        if package in _dependencies(here / "package.json"):
            return here
        if here == top or top not in here.parents:
            return None
        here = here.parent


def _dependencies(package_json: Path) -> set[str]:
    """The packages a package.json lists; a skill's file, so read as untrusted (on the
    event loop): never through a link, never a FIFO or a device (an open that blocks
    stalled every call of the engine), at most 1 MiB."""
    try:
        raw = None if package_json.is_symlink() else read_folder_file(
            package_json, max_bytes=_MAX_PACKAGE_JSON)
        data = json.loads(raw) if raw is not None else None
    except (OSError, ValueError, RecursionError):  # FolderFileTooLarge among them
        return set()
    if not isinstance(data, dict):
        return set()
    names: set[str] = set()
    for key in ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies"):
        deps = data.get(key)
        if isinstance(deps, dict):
            names.update(k for k in deps if isinstance(k, str))
    return names
