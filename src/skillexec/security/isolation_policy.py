"""Isolation as the operator's policy: a manifest asks, the engine decides (DESIGN §5).

Levels are ordered ``inline < process < sandbox``. A skill loaded from a folder runs at
the operator's level (``default_isolation``) or a stronger one it asks for; a weaker one
only when the operator names the skill in ``trusted_skills``. Otherwise the call is refused
before anything of the skill's runs — never quietly run stronger, since a skill that
needs the weaker level would then fail later with a sandbox error that names nothing the
operator can change. Decorated functions are the engine owner's own code: they run inline
unless they ask for more.

A manifest's ``timeout``, ``memory_mb``, ``cpu_seconds`` and ``max_retries`` are clamped
to the operator's maxima; :meth:`IsolationPolicy.effective` is what every consumer (the
engine, ``skills show``) reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from skillexec.errors import SkillPermissionError
from skillexec.scripts import base_id
from skillexec.security.claims import keep_contested
from skillexec.skills.model import EntryKind, ExecutionSettings, Isolation, Skill

__all__ = ["IsolationPolicy", "strength"]

_CHILD_ONLY = frozenset({EntryKind.COMMAND, EntryKind.SCRIPT})
_STRENGTH = {Isolation.INLINE: 0, Isolation.PROCESS: 1, Isolation.SANDBOX: 2}


_K = TypeVar("_K")
_V = TypeVar("_V")


def strength(level: Isolation) -> int:
    """``inline`` 0 < ``process`` 1 < ``sandbox`` 2."""
    return _STRENGTH[level]


@dataclass(frozen=True, slots=True, kw_only=True)
class IsolationPolicy:
    default_isolation: Isolation = Isolation.SANDBOX
    # Exact skill ids, no patterns: an id is whatever a manifest says it is, so a pattern
    # would trust every skill that names itself to match it.
    trusted_skills: frozenset[str] = frozenset()
    max_timeout_s: float = 3600.0
    max_retries: int = 10
    default_memory_mb: int = 512
    max_memory_mb: int = 4096
    default_cpu_seconds: float = 60.0
    max_cpu_seconds: float = 600.0
    # Every call asks for its skill's level and limits: answered once per skill object (a
    # replaced skill is a new object), keyed by id and checked by identity. Refusals are not
    # kept: each one is a fresh error.
    _levels: dict[int, tuple[Skill, Isolation]] = field(
        default_factory=dict, init=False, compare=False, repr=False)
    _clamped: dict[int, tuple[ExecutionSettings, ExecutionSettings]] = field(
        default_factory=dict, init=False, compare=False, repr=False)
    # Trusted ids that more than one skill folder claims -> those folders (see ``claims``).
    _contested: dict[str, tuple[str, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False)

    def claims(self, contested: Mapping[str, tuple[str, ...]]) -> None:
        """Told, once skills are loaded, the ids more than one folder claims (and those
        folders). Trust is by id, and an id is whatever a manifest says: a second folder
        claiming a trusted id with a higher version took its calls, and ran with its trust
        (inline: in the engine's process). While more than one folder claims it, neither
        is trusted."""
        if keep_contested(self._contested, contested, self.trusted_skills):
            self._levels.clear()  # levels answered under the old claims

    def first_party(self, skill: Skill) -> bool:
        return skill.entry.kind is EntryKind.CALLABLE

    def floor(self, skill: Skill) -> Isolation:
        """The weakest level ``skill`` may run at. A bundled script's call is trusted as
        its skill is (as its grants and secrets go by its skill's id)."""
        base = base_id(skill)  # a script's trust is its skill's alone (not plug:a's)
        if self.first_party(skill) or (base in self.trusted_skills
                                       and base not in self._contested):
            return Isolation.INLINE
        return self.default_isolation

    def wanted(self, skill: Skill) -> Isolation:
        """The level the skill asks for (or gets by default), before the policy's check."""
        wanted = skill.execution.isolation
        if wanted is None:
            wanted = Isolation.INLINE if self.first_party(skill) else self.default_isolation
        if wanted is Isolation.INLINE and (skill.entry.kind in _CHILD_ONLY or skill.env_paths):
            # A command or a script always runs as a child process; so does a skill with an
            # environment of its own (its packages must not be imported into the engine).
            return Isolation.PROCESS
        return wanted

    def refusal(self, skill: Skill) -> SkillPermissionError | None:
        """Why ``skill`` may not run at the level it asks for, or None."""
        hit = self._levels.get(id(skill))
        if hit is not None and hit[0] is skill:
            return None
        wanted = self.wanted(skill)
        floor = self.floor(skill)
        if strength(wanted) >= strength(floor):
            return None
        if (folders := self._contested.get(base_id(skill))) is not None:
            return SkillPermissionError(
                f"skill {skill.id!r} is in trusted_skills, but {len(folders)} folders claim "
                f"that id ({', '.join(folders)}): none is trusted until only one does",
                code="isolation_not_allowed",
                details={"skill_id": skill.id, "asked": wanted.value, "allowed": floor.value,
                         "setting": "trusted_skills", "folders": list(folders)})
        return SkillPermissionError(
            f"skill {skill.id!r} asks for isolation {wanted.value!r}, weaker than the "
            f"operator's {floor.value!r}; to allow it, add {base_id(skill)!r} to the "
            "trusted_skills "
            "setting (or remove execution.isolation from its manifest)",
            code="isolation_not_allowed",
            details={"skill_id": skill.id, "asked": wanted.value, "allowed": floor.value,
                     "setting": "trusted_skills"})

    def isolation(self, skill: Skill) -> Isolation:
        """The level ``skill`` runs at; raises SkillPermissionError if it asks for less."""
        hit = self._levels.get(id(skill))
        if hit is not None and hit[0] is skill:
            return hit[1]
        refused = self.refusal(skill)
        if refused is not None:
            raise refused
        level = self.wanted(skill)
        _remember(self._levels, skill, level)
        return level

    def effective(self, ex: ExecutionSettings) -> ExecutionSettings:
        """``ex`` with every value past the operator's maxima clamped (the same object when
        nothing is: the common case costs no copy)."""
        hit = self._clamped.get(id(ex))
        if hit is not None and hit[0] is ex:
            return hit[1]
        changes: dict[str, Any] = {}
        if ex.timeout_s is not None and not ex.timeout_s <= self.max_timeout_s:
            changes["timeout_s"] = self.max_timeout_s  # NaN and inf are clamped too
        if ex.max_retries is not None and ex.max_retries > self.max_retries:
            changes["max_retries"] = self.max_retries
        if ex.memory_mb is not None and ex.memory_mb > self.max_memory_mb:
            changes["memory_mb"] = self.max_memory_mb
        if ex.cpu_seconds is not None and not ex.cpu_seconds <= self.max_cpu_seconds:
            changes["cpu_seconds"] = self.max_cpu_seconds
        out = dataclasses.replace(ex, **changes) if changes else ex
        _remember(self._clamped, ex, out)
        return out

    def resource_limits(self, *, memory_mb: int | None,
                        cpu_seconds: float | None) -> tuple[int, float]:
        """(memory MB, CPU seconds) an isolated attempt asking for these gets."""
        return (min(memory_mb or self.default_memory_mb, self.max_memory_mb),
                min(cpu_seconds or self.default_cpu_seconds, self.max_cpu_seconds))

    def describe(self, skill: Skill, *, default_timeout_s: float,
                 default_max_retries: int) -> dict[str, Any]:
        """What ``skills show`` prints: the effective values, and what was asked where the
        policy changed it."""
        ex = self.effective(skill.execution)
        asked = skill.execution
        refused = self.refusal(skill)
        out: dict[str, Any] = {
            "isolation": self.wanted(skill).value if refused is None else None,
            "timeout_s": min(ex.timeout_s or default_timeout_s, self.max_timeout_s),
            "max_retries": min(ex.max_retries if ex.max_retries is not None
                               else default_max_retries, self.max_retries),
        }
        out["memory_mb"], out["cpu_seconds"] = self.resource_limits(
            memory_mb=ex.memory_mb, cpu_seconds=ex.cpu_seconds)
        if refused is not None:
            out["refused"] = refused.message
        clamped = {name: getattr(asked, name) for name in
                   ("timeout_s", "max_retries", "memory_mb", "cpu_seconds")
                   if getattr(asked, name) != getattr(ex, name)}
        if clamped:
            out["clamped_from"] = clamped
        return out


def _remember(memo: dict[int, tuple[_K, _V]], key: _K, value: _V) -> None:
    if len(memo) >= 4096:  # bounded: skills replaced many times over a long life
        memo.clear()
    memo[id(key)] = (key, value)
