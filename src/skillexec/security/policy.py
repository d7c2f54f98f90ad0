"""The engine's permission policy: which manifest permissions may be granted, to whom."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from skillexec.errors import SkillPermissionError
from skillexec.scripts import base_id
from skillexec.security.claims import keep_contested
from skillexec.skills.model import Permission, Skill

__all__ = ["DEFAULT_DATABASE_PORTS", "PermissionPolicy"]

# What `database_access` opens without `network_access`: TCP connect to these ports only
# (PostgreSQL, MySQL, Redis, MongoDB, SQL Server).
DEFAULT_DATABASE_PORTS: tuple[int, ...] = (5432, 3306, 6379, 27017, 1433)


@dataclass(frozen=True, slots=True)
class PermissionPolicy:
    """``allowed`` applies to every skill; ``per_skill`` (skill id → set) adds to it.

    Paths are what ``file_read`` / ``file_write`` open in the sandbox, for any skill granted
    that permission (the skill's own folder is always readable, its workdir writable).
    """

    allowed: frozenset[Permission] = frozenset({Permission.FILE_READ, Permission.FILE_WRITE})
    per_skill: Mapping[str, frozenset[Permission]] = field(
        default_factory=lambda: MappingProxyType({}))
    file_read_paths: tuple[Path, ...] = ()
    file_write_paths: tuple[Path, ...] = ()
    database_ports: tuple[int, ...] = DEFAULT_DATABASE_PORTS
    # Skill id (or "*") -> the variables a call may set for that skill's scripts.
    script_env: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: MappingProxyType({}))
    # Ids of per_skill that more than one skill folder claims -> those folders.
    _contested: dict[str, tuple[str, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False)

    def claims(self, contested: Mapping[str, tuple[str, ...]]) -> None:
        """Told, once skills are loaded, the ids more than one folder claims (and those
        folders): a grant is by id, and an id is whatever a manifest says (a second folder
        claiming it with a higher version took its calls, with the grant). While more than
        one folder claims an id, its per-skill grant is given to none of them."""
        keep_contested(self._contested, contested, self.per_skill)

    def granted_for(self, skill_id: str) -> frozenset[Permission]:
        return self.allowed | self.per_skill.get(skill_id, frozenset())

    def env_refused(self, skill: Skill, names: Iterable[str]) -> SkillPermissionError | None:
        """Why a call may not give ``skill``'s script the variables ``names`` (a caller runs
        a skill's scripts, never code of its own: which of its variables are settings the
        operator says, per skill), or None."""
        base = base_id(skill)
        allowed = self.script_env.get(base, frozenset()) | self.script_env.get("*", frozenset())
        refused = sorted(n for n in names if n not in allowed)
        if not refused:
            return None
        return SkillPermissionError(
            f"{', '.join(refused)}: not a variable a call may give the scripts of skill "
            f"{base!r} (the operator names those in [permissions] script_env, "
            f"{{{base!r} = [{', '.join(repr(n) for n in refused)}]}})",
            code="script_env_not_allowed", details={"skill_id": base, "refused": refused})

    def check(self, skill: Skill) -> frozenset[Permission]:
        """The permissions granted to ``skill``; raises if it requests one the policy refuses.
        A bundled script's call (``fetcher:scripts/get.mjs``) has its skill's grant too
        (``fetcher``), as its secrets are: a grant had to name each script."""
        # A script's grant is its skill's alone: its own task id (plug:a for plain skill
        # plug's script a) may be a plugin skill's, whose grant is not its.
        base = base_id(skill)
        refused = skill.permissions - self.granted_for(base)
        folders = self._contested.get(base) if self._contested else None
        if folders is not None and not refused and skill.permissions - self.allowed:
            names = ", ".join(sorted(p.value for p in skill.permissions - self.allowed))
            raise SkillPermissionError(
                f"skill {skill.id!r} is granted {names} by permissions_per_skill, but "
                f"{len(folders)} folders claim that id ({', '.join(folders)}): none gets "
                "the grant until only one does", code="permission_not_granted",
                details={"skill_id": skill.id, "folders": list(folders),
                         "refused": sorted(p.value for p in skill.permissions - self.allowed)})
        if refused:
            names = ", ".join(sorted(p.value for p in refused))
            raise SkillPermissionError(
                f"skill {skill.id!r} requests permissions the engine policy does not grant: "
                f"{names} (grant them with the permissions_allowed or permissions_per_skill "
                "settings)",
                code="permission_not_granted",
                details={"skill_id": skill.id, "refused": sorted(p.value for p in refused)},
            )
        return skill.permissions



