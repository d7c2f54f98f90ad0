"""Which folders are skills: the walk of a skills folder (marketplaces followed, hidden
folders of skills named, links out of it not walked, skill folders below a skill's), and
what a skills folder that is a skill itself leaves to the skills below it."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from skillexec.skills.bundle import BUNDLE_DIRS
from skillexec.skills.manifest import MANIFEST_NAMES
from skillexec.skills.model import Skill
from skillexec.skills.plugins import MAX_MANIFEST_BYTES, marketplace_sources

__all__ = ["LoadProblem", "is_skill_folder", "skill_folders", "without_nested"]

_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "venv", "site-packages"})
# Hidden folders not even looked into for skills (a repository's, tools' caches).
_SKIP_HIDDEN = frozenset({".git", ".github", ".venv", ".claude-plugin", ".cache", ".idea",
                          ".vscode", ".tox", ".mypy_cache", ".pytest_cache", ".ruff_cache",
                          ".hg", ".svn", ".skillexec"})
# skills/<category>/<skill> is common; AgentWorkers keeps skills/<owner>/<slug>/<version>/...
# (50 of its folders were past 4 levels, dropped without a word); deeper is a project tree.
_MAX_DEPTH = 6
# The names a folder's listing is read for: its manifests, a lower-case skill.md, a
# marketplace's folder.
_MARKS = frozenset({*MANIFEST_NAMES, "skill.md", ".claude-plugin"})


@dataclass(frozen=True, slots=True)
class LoadProblem:
    """A folder that could not be loaded, and why."""

    path: Path
    reason: str
    duplicate_of: Path | None = None  # the folder that defines the same id and version
    # A folder the walk leaves unread on purpose (a hidden one: Claude Code's .claude/ of a
    # marketplace; a marketplace.json too large), said so that its skills can be loaded
    # another way: no broken skill, and `skills validate` no error.
    note: bool = False


def is_skill_folder(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in MANIFEST_NAMES)


def without_nested(skill: Skill, others: list[Path]) -> Skill:
    """A skills folder that is a skill itself (an index SKILL.md at a repository's top)
    without the files of the skills below it: Agent-Skills' index owned all 43 of their
    scripts, a refused duplicate's among them, under its own id and grants."""
    if skill.path is None:
        return skill
    top = os.path.realpath(skill.path)
    real = (os.path.realpath(f) for f in others)
    below = tuple(os.path.relpath(f, top) + "/" for f in real if f.startswith(top + os.sep))
    if not below:
        return skill
    return dataclasses.replace(
        skill, resources=tuple(r for r in skill.resources if not r.path.startswith(below)),
        scripts=tuple(s for s in skill.scripts if not s.startswith(below)))


def skill_folders(root: Path) -> tuple[list[Path], list[LoadProblem]]:
    """The skill folders at or below ``root`` (below a skill's too, but for those in its
    own folders: ``bundle.BUNDLE_DIRS``), and what holds skills the walk does not read: a
    ``skill.md`` in lower case (cat-agent-skills has one), a hidden folder of skill
    folders (openai/skills keeps all of its in ``skills/.curated`` and two others)."""
    # A skills folder may be a skill itself and hold others (grahama1970's has a stray
    # SKILL.md at its top): Claude Code reads <dir>/*/SKILL.md, so the walk goes on below.
    at_root = is_skill_folder(root)
    found: list[Path] = [root] if at_root else []
    unread: list[LoadProblem] = []
    # Each folder of folders walked once, by its real path, at its shallowest: UiPath's
    # repository links plugins/uipath to its own top, which showed every skill again,
    # "already defined". A link to a skill folder is still a second definition, said so.
    top = os.path.realpath(root)
    seen = {top}
    # (folder, its real path, depth, whether a skill holds it, whether it is to be told
    # a skill or not when read). The walk goes on below a skill: aero-agent-skills' family
    # routers (skills/<family>/SKILL.md) hold its 926 leaf skills. But not into a skill's
    # own folders (bundle.BUNDLE_DIRS): a SKILL.md in its templates/ or tests/fixtures/
    # is a template or a fixture, not a skill. Each folder is listed once (what it holds
    # says whether it is a skill), and a real path is only asked of a link: with the
    # folders of every skill walked too, asking each was most of the walk's time.
    queue: deque[tuple[Path, str, int, bool, bool]] = deque([(root, top, 0, at_root, False)])
    while queue:
        folder, real_folder, depth, inside, check = queue.popleft()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        # What it holds that says what it is (a manifest, a marketplace's folder).
        marks = {e.name for e in entries if e.name in _MARKS and _is_mark(e)}
        if check:
            skill = not marks.isdisjoint(MANIFEST_NAMES)
            if skill:
                found.append(folder)
            elif "skill.md" in marks:
                unread.append(_lower_case(folder))
            inside = inside or skill
        if ".claude-plugin" in marks:
            _marketplace(folder, seen, found, unread, queue)
        for entry in entries:
            name = entry.name
            if (inside and name.lower() in BUNDLE_DIRS) or name in _SKIP_DIRS:
                continue  # a skill's own: its templates', its fixtures' SKILL.md are no skills
            try:
                if not entry.is_dir():
                    continue
            except OSError:
                continue
            child = folder / name
            if name.startswith("."):
                held, where = _skills_in(child) if name not in _SKIP_HIDDEN else (0, child)
                if held:
                    unread.append(LoadProblem(child, (
                        f"{child}: folders whose names start with '.' are not read, and "
                        f"{'this one' if where == child else where} holds {held} skill "
                        f"folder{'s' if held > 1 else ''}: pass it as --skills-dir to load "
                        "them"), note=True))
                continue
            real = os.path.realpath(child) if entry.is_symlink() else \
                os.path.join(real_folder, name)
            # A link to a skill folder is one skill, as its user linked it; a link to
            # folders out of the skills folder is not walked (a repository's
            # skills/root -> / loaded other users' private skills).
            if depth + 1 < _MAX_DEPTH and real not in seen and real.startswith(top + os.sep):
                seen.add(real)
                queue.append((child, real, depth + 1, inside, True))
            elif is_skill_folder(child):  # told here, as it is not walked
                found.append(child)
            elif (child / "skill.md").is_file():
                unread.append(_lower_case(child))
    # A marketplace may list a skill folder a walk finds too.
    return sorted(set(found)), unread


def _is_mark(entry: os.DirEntry[str]) -> bool:
    """Whether a listed name of ``_MARKS`` is what it says: a manifest a file, the
    marketplace's .claude-plugin a folder."""
    try:
        return entry.is_dir() if entry.name == ".claude-plugin" else entry.is_file()
    except OSError:
        return False


def _lower_case(folder: Path) -> LoadProblem:
    return LoadProblem(folder, (
        f"{folder / 'skill.md'}: the file must be named SKILL.md (Agent Skills and Claude "
        "Code read that name alone)"))


def _marketplace(folder: Path, seen: set[str], found: list[Path], unread: list[LoadProblem],
                 queue: deque[tuple[Path, str, int, bool, bool]]) -> None:
    """A marketplace's plugins, walked as from the top, however deep it lists them."""
    market = folder / ".claude-plugin" / "marketplace.json"
    with contextlib.suppress(OSError):
        if market.stat().st_size > MAX_MANIFEST_BYTES:
            unread.append(LoadProblem(folder, (
                f"{market}: larger than {MAX_MANIFEST_BYTES // 1024} KiB, not read: the "
                "plugins it lists load only where a walk of folders finds them"),
                note=True))
    for source in marketplace_sources(folder):
        if (real := os.path.realpath(source)) not in seen and source.is_dir():
            seen.add(real)
            skill = is_skill_folder(source)
            if skill:
                found.append(source)
            queue.append((source, real, 0, skill, False))


def _skills_in(folder: Path) -> tuple[int, Path]:
    """How many of ``folder``'s folders, or else of its ``skills/`` folder's (Claude
    Code's ``.claude/skills``: UiPath keeps one there), are skill folders (bounded), and
    which of the two holds them."""
    for where in (folder, folder / "skills"):
        try:
            found = sum(1 for p in itertools.islice(where.iterdir(), 1000)
                        if is_skill_folder(p))
        except OSError:
            continue
        if found:
            return found, where
    return 0, folder
