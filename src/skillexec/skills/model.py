"""What a loaded skill is, whatever format it came from.

Loaders turn `skill.json`, `skill.yaml`, `SKILL.md` and decorated functions into one
immutable :class:`Skill`; the engine never looks at the raw formats again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "Entry",
    "EntryKind",
    "ExecutionSettings",
    "Isolation",
    "PackageDependency",
    "Permission",
    "Resource",
    "Skill",
    "SkillDependency",
]


class Isolation(StrEnum):
    INLINE = "inline"
    PROCESS = "process"
    SANDBOX = "sandbox"


class Permission(StrEnum):
    FILE_READ = "file_read"
    FILE_WRITE = "file_write"
    NETWORK_ACCESS = "network_access"
    DATABASE_ACCESS = "database_access"
    SYSTEM_INFO = "system_info"


class EntryKind(StrEnum):
    PYTHON = "python"  # a function or class in a Python file of the skill's folder
    CALLABLE = "callable"  # a Python object already in memory (the @skill decorator)
    COMMAND = "command"  # an argv run as a child process: JSON on stdin, JSON on stdout
    NONE = "none"  # metadata only: listed, refused at run time
    SCRIPT = "script"  # a bundled script run with argv and files (see skillexec.scripts)


@dataclass(frozen=True, slots=True)
class Entry:
    kind: EntryKind
    file: Path | None = None  # PYTHON: the module file, absolute
    attr: str | None = None  # PYTHON: function or class name; None means discover
    command: tuple[str, ...] = ()  # COMMAND: argv, never run through a shell
    func: Callable[..., Any] | None = None  # CALLABLE
    reason: str = ""  # NONE: why there is no entry

    @property
    def runnable(self) -> bool:
        return self.kind is not EntryKind.NONE


@dataclass(frozen=True, slots=True)
class ExecutionSettings:
    """The manifest's `execution` block. ``None`` means: the engine's default applies."""

    timeout_s: float | None = None
    max_retries: int | None = None
    priority: int | None = None
    memory_mb: int | None = None
    cpu_seconds: float | None = None
    isolation: Isolation | None = None
    cacheable: bool = False
    cache_ttl_s: float | None = None
    idempotent: bool = False
    fallback: str | None = None
    concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class SkillDependency:
    """Another skill this one needs, with a semver requirement (``^1.2``, ``>=1.0``, ``*``)."""

    id: str
    requirement: str = "*"


@dataclass(frozen=True, slots=True)
class PackageDependency:
    """A Python distribution this skill imports, with a PEP 440 specifier ("" for any)."""

    name: str
    specifier: str = ""
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Resource:
    """A file bundled with a skill (a reference, a template, a script): its path relative
    to the skill's folder, its size and its media type (guessed from its name)."""

    path: str
    size: int
    mime: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "mime": self.mime}


@dataclass(frozen=True, slots=True)
class Skill:
    id: str
    version: str
    entry: Entry
    name: str = ""
    description: str = ""
    path: Path | None = None  # the skill's folder; None for decorated functions
    # The Claude Code plugin's folder the skill is in: what its scripts may read and run
    # beside its own folder (the plugin is what Claude Code ships whole).
    plugin_root: Path | None = None
    parameters_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] | None = None
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    permissions: frozenset[Permission] = frozenset()
    dependencies: tuple[PackageDependency, ...] = ()
    skill_dependencies: tuple[SkillDependency, ...] = ()
    default_config: dict[str, Any] = field(default_factory=dict)
    config_schema: dict[str, Any] | None = None
    category: str = ""
    author: str = ""
    tags: tuple[str, ...] = ()
    source: str = ""  # which manifests it was read from, e.g. "skill.json+SKILL.md"
    manifest: dict[str, Any] = field(default_factory=dict)  # merged raw fields, unknown kept
    warnings: tuple[str, ...] = ()
    env_paths: tuple[str, ...] = ()
    # Agent Skills (DESIGN §3.5): the SKILL.md body (None when there is none), the other
    # bundled files, and the bundled scripts that can be run (relative paths).
    instructions: str | None = None
    resources: tuple[Resource, ...] = ()
    scripts: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    @property
    def runnable(self) -> bool:
        return self.entry.runnable

    @property
    def offers(self) -> str:
        """What a caller can use: ``entry``, ``N scripts`` (either or both), else
        ``instructions only`` (or ``nothing`` for a folder with neither)."""
        parts = ["entry"] if self.runnable else []
        if self.scripts:
            parts.append(f"{len(self.scripts)} script{'s' if len(self.scripts) != 1 else ''}")
        if parts:
            return " + ".join(parts)
        return "instructions only" if self.instructions else "nothing"
