"""SkillBook: the skills an engine runs, the runners that run them, and their warm-up."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from skillexec.environments.manager import EnvironmentManager
from skillexec.errors import ParameterError, SkillExecError
from skillexec.runtime.runners.base import Runner
from skillexec.security.isolation_policy import IsolationPolicy, strength
from skillexec.security.policy import PermissionPolicy
from skillexec.security.secret_grants import SecretGrants
from skillexec.skills.decorator import skill_of
from skillexec.skills.loader import LoadReport, load_skill
from skillexec.skills.model import EntryKind, Isolation, Skill
from skillexec.skills.overrides import override_entry
from skillexec.skills.registry import SkillRegistry

__all__ = ["SkillBook"]

log = logging.getLogger("skillexec.engine")
_LEVELS = {level.value: level for level in Isolation}
_WARM_AT_ONCE = 8  # skills warmed up side by side at start


class SkillBook:
    def __init__(self, *, skills: SkillRegistry, runners: Mapping[str, Runner],
                 policy: IsolationPolicy, strict_manifests: bool,
                 spawn: Callable[[Coroutine[Any, Any, Any]], None],
                 started: Callable[[], bool], environments: EnvironmentManager,
                 entries: Mapping[str, str] | None = None,
                 permissions: PermissionPolicy | None = None,
                 secrets: SecretGrants | None = None) -> None:
        self.skills = skills
        self.permissions = permissions  # per-skill grants: told which folders claim an id
        self.secrets = secrets or SecretGrants()  # and the ids secrets are handed to
        self.environments = environments
        self.entries = dict(entries or {})  # skillexec.toml [skills.<id>] entry
        self.runners = runners
        self.policy = policy
        self.strict_manifests = strict_manifests
        self.spawn = spawn
        self.started = started
        self.prepare_only: frozenset[str] | None = None  # None: every skill at start
        # Every folder that claimed each id while this engine ran, those not registered
        # included: one refused as defining a loaded skill's id and version again, or one
        # an equal version replaced (a grant by id is contested whichever loaded first).
        self._claimants: dict[str, set[str]] = {}

    def load(self, path: str | Path, *, warm: bool = True) -> LoadReport:
        """Add every skill folder under ``path``; ``warm``: once started, warm them up in
        the background."""
        report = self.skills.load_dir(Path(path), strict=self.strict_manifests)
        # A loaded skill's folder is its real path; the walk names the folders as ``path``
        # was given (relative: the default "skills"), so the one a refused folder repeats is
        # resolved to be found: else the second claim went uncounted, and a hostile folder
        # sorted first took the id's grants.
        by_folder = {str(s.path): s.id for s in report.skills if s.path is not None}
        for problem in report.problems:
            if problem.duplicate_of is not None and (sid := by_folder.get(
                    os.path.realpath(problem.duplicate_of))) is not None:
                self._claimants.setdefault(sid, set()).add(os.path.realpath(problem.path))
        adopted = tuple(self._adopt(s) for s in report.skills)
        for before, after in zip(report.skills, adopted, strict=True):
            if after is not before:
                self.skills.add(after)
        report = dataclasses.replace(report, skills=adopted)
        self._claims()
        only = self.prepare_only
        for problem in report.problems:
            # A one-call engine is not the place to hear of other skills' folders; of its
            # own, the refusal of the call says why (the registry's not_found).
            level = logging.WARNING if only is None else logging.DEBUG
            log.log(level, "skill at %s not loaded: %s", problem.path, problem.reason)
        if warm and self.started():
            for s in report.skills:
                if self.wanted(s):
                    self.spawn(self.prepare(s))
        return report

    def _adopt(self, skill: Skill) -> Skill:
        """The skill as this engine runs it: the operator's entry, the operator's grant,
        its environment."""
        if skill.path is not None:
            self._claimants.setdefault(skill.id, set()).add(str(skill.path))
        entry = self.entries.get(skill.id)
        if entry is not None and skill.path is not None:
            skill = override_entry(skill, entry)
        granted = self.permissions.per_skill.get(skill.id) if self.permissions else None
        if granted and not granted <= skill.permissions:
            # The operator's word is a grant, not only a bound on what the manifest asks:
            # an Agent Skills SKILL.md cannot ask for anything (its scripts then never
            # had the network, however the operator granted it). While two folders claim
            # the id, the policy refuses its calls (see PermissionPolicy.claims).
            skill = dataclasses.replace(skill, permissions=skill.permissions | granted)
        return self.environments.attach(skill)

    def _claims(self) -> None:
        """The trusted or granted ids (permissions, secrets) that more than one folder
        claims, with those folders, told to the policies (see their ``claims``)."""
        granted = self.permissions.per_skill if self.permissions is not None else {}
        contested: dict[str, tuple[str, ...]] = {}
        for i in {*self.policy.trusted_skills, *granted, *self.secrets.ids}:
            folders = {str(s.path) for s in self.skills.every_version(i) if s.path is not None}
            folders |= self._claimants.get(i, set())
            if len(folders) > 1:
                contested[i] = tuple(sorted(folders))
        self.policy.claims(contested)
        self.secrets.claims(contested)
        if self.permissions is not None:
            self.permissions.claims(contested)

    def claimants(self, id: str) -> frozenset[str]:
        """Every folder that claimed ``id`` on this engine: those registered, and those
        refused as defining it again (paths as they were loaded)."""
        folders = {str(s.path) for s in self.skills.every_version(id) if s.path is not None}
        return frozenset(folders | self._claimants.get(id, set()))

    def refresh(self) -> None:
        """Skills whose packages another process changed (``skillexec skills install ID
        PKG``) attached again: their next call finds, or provisions, the new set, and their
        runner warms a new parent (it keys a parent by its environment too)."""
        self.environments.refresh(self.skills, pending=False)

    def wanted(self, skill: Skill) -> bool:
        """Whether a skill is warmed up before its first call."""
        return self.prepare_only is None or skill.id in self.prepare_only

    def register(self, fn_or_path: Callable[..., Any] | str | Path | Skill) -> Skill:
        if isinstance(fn_or_path, Skill):
            skill = fn_or_path
        elif isinstance(fn_or_path, str | Path):
            skill = load_skill(Path(fn_or_path), strict=self.strict_manifests)
        else:
            skill = skill_of(fn_or_path)
        skill = self._adopt(skill)
        self.skills.add(skill)
        self._claims()
        if self.started():
            self.spawn(self.prepare(skill))
        return skill

    def ref(self, ref: Callable[..., Any] | Skill, version: str | None,
            ) -> tuple[str, str | None]:
        """The id (and version) of a skill given as a decorated function or a Skill."""
        if isinstance(ref, Skill):
            found = ref
        elif isinstance(getattr(ref, "__skill__", None), Skill):
            found = skill_of(ref)
        else:
            raise ParameterError(
                f"a skill is named by its id (a str), a @skill-decorated function or a Skill; "
                f"got {type(ref).__name__} {ref!r}", code="invalid_skill_reference")
        registered = self.skills.exact(found.id, found.version)
        if registered is None or (found.entry.kind is EntryKind.CALLABLE
                                  and registered.entry.func is not found.entry.func):
            # A second @skill function under a registered id and version (a closure made
            # per user or session) replaces the first, as register() does: the call runs
            # the function it was given, never the other one's code and captured state.
            self.register(found)
        return found.id, version if version is not None else found.version

    async def prepare_all(self) -> None:
        """Warm up every skill wanted before its first call (at start), several at once: one
        after the other, each skill whose import hangs held the start up for its whole
        ``zygote.import_timeout_s`` before the next began. At most ``_WARM_AT_ONCE`` at a
        time, so that many skills' imports do not share the CPUs so thinly that they hit
        that bound themselves."""
        gate = asyncio.Semaphore(_WARM_AT_ONCE)

        async def warm(skill: Skill) -> None:
            async with gate:
                await self.prepare(skill)
        await asyncio.gather(*(warm(s) for s in self.skills.list() if self.wanted(s)))

    async def prepare(self, skill: Skill) -> None:
        if not skill.runnable or skill.key in self.environments.pending:
            return  # nothing to run, or not before its environment is made (first call)
        if self.policy.refusal(skill) is not None:
            return  # refused at each call, with the reason: nothing to warm up
        runner = self.runners.get(self.policy.isolation(skill).value)
        if runner is None:
            return
        try:
            await runner.prepare(skill)
        except SkillExecError as exc:
            log.warning("skill %s cannot be prepared: %s", skill.key, exc)

    def isolation_of(self, skill: Skill) -> str:
        """The runner a call of this skill uses unless an advisor chooses another."""
        return self.policy.isolation(skill)._value_  # not .value: a Python descriptor

    def runner_allows(self, name: str, skill: Skill) -> bool:
        """Whether this engine's runner ``name`` exists and will run this skill here."""
        runner = self.runners.get(name)
        if runner is None or (skill.entry.kind is EntryKind.COMMAND and name == "inline"):
            return False
        if name in _LEVELS and strength(_LEVELS[name]) < strength(self.policy.floor(skill)):
            return False  # an advisor may not weaken isolation past the operator's policy
        return runner.refusal(skill) is None
