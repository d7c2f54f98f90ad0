"""A Node skill's npm packages: those its ``package.json`` lists, and whether they are there.

skillexec installs Python packages, not npm's (the README: Node installs are not done yet):
a Node skill's packages are the ``node_modules`` that ``npm install`` makes beside its
``package.json``. Without them its first call ends ``missing_module`` ("... which
package.json lists but nobody installed: run npm install in ..."); ``skills list``, ``show``
and ``check`` say the same ahead of time, instead of "none needed".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from skillexec.skills.folder_files import read_folder_file

__all__ = ["NpmPackages", "npm_packages"]

# Where a skill keeps its package.json: beside SKILL.md, or beside its scripts.
_PLACES = ("package.json", "scripts/package.json")
_MAX_PACKAGE_JSON = 1 << 20  # npm's own registry refuses manifests far smaller


@dataclass(frozen=True, slots=True)
class NpmPackages:
    """The npm packages of a skill's ``package.json`` (``file``, relative to its folder),
    and those of them that no ``node_modules`` in or above ``folder`` holds."""

    file: str
    folder: str  # where ``npm install`` makes them: the package.json's folder
    declared: tuple[tuple[str, str], ...]  # (name, the version range it gives)
    missing: tuple[str, ...]

    @property
    def installed(self) -> bool:
        return not self.missing

    def advice(self) -> str:
        """What to do about the missing ones, as the run-time error words it."""
        return f"run npm install in {self.folder}"

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "folder": self.folder, "declared": dict(self.declared),
                "missing": list(self.missing), "installed": self.installed}


def npm_packages(folder: Path | None) -> NpmPackages | None:
    """What the first ``package.json`` of the skill's ``folder`` that lists
    ``dependencies`` declares (None where none does)."""
    if folder is None:
        return None
    for rel in _PLACES:
        file = folder / rel
        declared = _dependencies(file)
        if not declared:
            continue
        # Where Node looks, from the script's folder up (as the registry checks a Node
        # command skill's): node_modules/<name>/package.json is an installed package.
        here = file.parent
        missing = tuple(name for name, _ in declared
                        if not any((d / "node_modules" / name / "package.json").is_file()
                                   for d in (here, *here.parents)))
        return NpmPackages(rel, str(here), declared, missing)
    return None


def _dependencies(package_json: Path) -> tuple[tuple[str, str], ...]:
    """The ``dependencies`` a package.json lists (its devDependencies are its author's
    tools, not what the skill runs with). A skill's file, read as untrusted: never through
    a link, never a FIFO or a device, at most 1 MiB; one npm would reject lists none."""
    try:
        raw = None if package_json.is_symlink() else read_folder_file(
            package_json, max_bytes=_MAX_PACKAGE_JSON)
        data = json.loads(raw) if raw is not None else None
    except (OSError, ValueError, RecursionError):  # FolderFileTooLarge among them
        return ()
    deps = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(deps, dict):
        return ()
    # A name is a folder under node_modules: never one that climbs out of it.
    return tuple((k, v if isinstance(v, str) else "") for k, v in deps.items()
                 if isinstance(k, str) and k and ".." not in k and not k.startswith("/")
                 and "\\" not in k)
