"""What a skill folder bundles besides its manifests: references, templates, scripts.

Agent Skills (DESIGN §3.5) ship files for a model to read and scripts for it to run. The
walk is bounded (a folder may hold a vendored project): caches, virtual environments and
dotfiles are skipped, symlinks are not followed, and at most ``MAX_RESOURCES`` are listed.
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path

from skillexec.errors import SkillNotFoundError
from skillexec.skills.manifest import MANIFEST_NAMES
from skillexec.skills.model import Resource, Skill

__all__ = ["MAX_BUNDLED_READ", "MAX_RESOURCES", "SCRIPT_SUFFIXES", "bundled_file",
           "python_files", "scan_bundle"]

MAX_RESOURCES = 500
MAX_BUNDLED_READ = 8 << 20  # a bundled file larger than this is not served
# What skillexec.scripts.INTERPRETERS runs (superpowers' brainstorming bundles a .cjs).
SCRIPT_SUFFIXES = frozenset({".py", ".js", ".mjs", ".cjs", ".sh"})
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "venv", ".venv", "env",
                        "site-packages", "dist", "build"})
_MAX_DEPTH = 6
# Where bundled scripts live in Agent Skills; Python files beside the manifest are the
# skill's own modules (its entry and helpers), not scripts a model is told to run.
_SCRIPT_DIRS = ("scripts", "bin")


def scan_bundle(folder: Path, *, top_level_scripts: bool = False,
                ) -> tuple[tuple[Resource, ...], tuple[str, ...]]:
    """The folder's bundled files (manifests excepted) and, among them, its scripts: those
    under ``scripts/`` (or ``bin/``), and with ``top_level_scripts`` (an Agent Skill with no
    entry, such as Py Copilot's xlsx and its ``recalc.py``) those beside the manifest."""
    resources: list[Resource] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        rel_root = Path(root).relative_to(folder)
        depth = len(rel_root.parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS
                         and depth < _MAX_DEPTH and _named(d))
        for name in sorted(files):
            if name.startswith(".") or name.endswith((".pyc", ".pyo")) or (
                    depth == 0 and name in MANIFEST_NAMES) or not _named(name):
                continue
            path = Path(root) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if not path.is_file() or path.is_symlink():
                continue
            rel = (rel_root / name).as_posix()
            mime = mimetypes.guess_type(name, strict=False)[0] or _mime_by_suffix(name)
            resources.append(Resource(rel, st.st_size, mime))
            if len(resources) >= MAX_RESOURCES:
                return tuple(resources), _scripts(resources, top_level_scripts)
    return tuple(resources), _scripts(resources, top_level_scripts)


def bundled_file(skill: Skill, rel: str) -> tuple[Path, str]:
    """The file ``rel`` that ``skill`` bundles (one its listing names: a resource or a
    script), as a path inside its folder, and its mime type; what the HTTP service and the
    MCP server serve. ``SkillNotFoundError`` (``bundled_file_not_found``) for anything else:
    a name not listed, a path that leaves the folder (a symlink the listing skipped, one
    swapped in since), a file grown past ``MAX_BUNDLED_READ``."""
    listed = {r.path: r.mime for r in skill.resources}
    listed.update({s: mimetypes.guess_type(s)[0] or "text/plain" for s in skill.scripts})
    if rel not in listed or skill.path is None:
        raise _not_bundled(skill, rel, "is not a file it bundles")
    root = skill.path.resolve()
    target = (root / rel).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise _not_bundled(skill, rel, "is not a file inside its folder")
    if target.stat().st_size > MAX_BUNDLED_READ:
        raise _not_bundled(skill, rel, f"is larger than {MAX_BUNDLED_READ} bytes")
    return target, listed[rel] or "application/octet-stream"


def _not_bundled(skill: Skill, rel: str, why: str) -> SkillNotFoundError:
    return SkillNotFoundError(f"{rel!r} of skill {skill.id!r} {why}",
                              code="bundled_file_not_found",
                              details={"skill_id": skill.id, "path": rel})


def python_files(folder: Path) -> tuple[list[Path], set[str]]:
    """The Python files of a skill's folder (by path) and the names of its folders,
    walked as ``scan_bundle`` walks it: bounded in depth, no link followed, caches and
    virtual environments skipped (a folder may be nested or vendored deep)."""
    found: list[Path] = []
    folders: set[str] = set()
    stack = [(folder, 0)]
    while stack:
        path, depth = stack.pop()
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or not _named(name):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders.add(name)
                    if name not in _SKIP_DIRS and depth + 1 < _MAX_DEPTH:
                        stack.append((Path(entry.path), depth + 1))
                elif name.endswith(".py") and entry.is_file(follow_symlinks=False):
                    found.append(Path(entry.path))
            except OSError:
                continue
    return sorted(found), folders


def _named(name: str) -> bool:
    """Whether a file's name is text: one that is not UTF-8 cannot be named by any call
    (JSON, a terminal), and is not offered."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def _scripts(resources: list[Resource], top_level: bool) -> tuple[str, ...]:
    return tuple(r.path for r in resources
                 if Path(r.path).suffix in SCRIPT_SUFFIXES
                 and (any(part in _SCRIPT_DIRS for part in r.path.split("/")[:-1])
                      or (top_level and "/" not in r.path))
                 and Path(r.path).name != "__init__.py")


def _mime_by_suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return {".md": "text/markdown", ".py": "text/x-python", ".sh": "text/x-shellscript",
            ".mjs": "text/javascript", ".cjs": "text/javascript", ".ts": "text/typescript",
            ".yaml": "application/yaml", ".yml": "application/yaml", ".toml": "application/toml",
            ".j2": "text/plain", ".txt": "text/plain", ".xsd": "application/xml"}.get(
                suffix, "application/octet-stream")
