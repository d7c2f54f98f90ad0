"""ExecutionOptimizer: answers a call from the result cache, or joins it to an identical
call already running, before it takes a worker slot.

Only skills marked ``execution.cacheable`` are cached; single-flight applies to those and to
``idempotent`` ones. ``cache=False`` on a call bypasses both (it neither reads the cache nor
joins a flight), though a cacheable skill's fresh result still refreshes the cache. Entries
and flights are each principal's own unless ``shared_skills`` names the skill. A cached
entry lives ``cache_ttl`` seconds (the manifest's, else ``default_ttl_s``); when a skill's
newest version changes, the entries of its other versions are dropped.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skillexec.errors import SkillExecError
from skillexec.optimization.cache import ResultCache, cache_key
from skillexec.optimization.settings import CacheSettings
from skillexec.optimization.singleflight import Flight, SingleFlight
from skillexec.skills.model import Skill
from skillexec.storage.store import CacheRecord, TaskStore
from skillexec.task import ExecutionTask

if TYPE_CHECKING:
    from skillexec.optimization.suggestions import EngineDefaults, Suggestion
    from skillexec.resources.manager import ResourceManager
    from skillexec.skills.registry import SkillRegistry

__all__ = ["CacheSettings", "ExecutionOptimizer"]

log = logging.getLogger("skillexec.optimizer")


class ExecutionOptimizer:
    def __init__(self, *, settings: CacheSettings | None = None, store: TaskStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = s = settings or CacheSettings()
        self.enabled = s.enabled
        self._clock = clock
        self.cache = ResultCache(store=store if s.persist else None,
                                 max_entries=s.max_entries, clock=clock,
                                 stale_s=s.stale_on_error_s)
        self.flights = SingleFlight()
        self._versions: dict[str, str] = {}
        self._store = store
        self._context: dict[str, Any] = {}

    def analyse_with(self, *, skills: SkillRegistry, resources: ResourceManager,
                     config: EngineDefaults) -> None:
        """What suggestions() reads besides the journal (the engine binds its own)."""
        self._context = {"skills": skills, "resources": resources, "config": config}

    async def suggestions(self, *, since: float | None = None, until: float | None = None,
                          min_calls: int = 20) -> list[Suggestion]:
        """Evidence-backed advice from what the journal recorded (see ``suggestions``)."""
        from skillexec.optimization.suggestions import suggest

        if self._store is None:
            return []
        return await suggest(self._store, since=since, until=until, min_calls=min_calls,
                             **self._context)

    def bind_store(self, store: TaskStore) -> None:
        """Use this journal (when the engine's store was chosen after the optimizer)."""
        if self._store is None:
            self._store = store
        if self.settings.persist and not self.cache.has_store and not len(self.cache):
            self.cache = ResultCache(store=store, max_entries=self.settings.max_entries,
                                     clock=self._clock,
                                     stale_s=self.settings.stale_on_error_s)

    def ttl_s(self, skill: Skill) -> float | None:
        ttl = skill.execution.cache_ttl_s
        return ttl if ttl is not None else self.settings.default_ttl_s

    def key(self, task: ExecutionTask) -> str:
        """The call's cache and single-flight key: per principal (one is never answered
        with another's result), unless the operator declared the skill's cache shared."""
        who = None if self.settings.shared(task.skill_id) else task.principal
        # A @skill closure made per user or session under one id and version (each with
        # its own captured state) answers only its own calls: keyed by the function too,
        # for this process (its cache is not kept across restarts, as its state is not).
        func = getattr(task.skill.entry, "func", None) if task.skill is not None else None
        mine = id(func) if getattr(func, "__closure__", None) else None
        return cache_key(task.skill_id, task.skill_version, task.params, task.config, who,
                         mine)

    async def lookup(self, key: str, skill: Skill, latest_version: str) -> CacheRecord | None:
        """The cached result of this call, if there is a live one."""
        cache = self.cache
        try:
            if not cache.loaded:
                await cache.load()
            if self._versions.get(skill.id) != latest_version:
                self._versions[skill.id] = latest_version
                cache.invalidate(skill.id, latest_version)
            if self.ttl_s(skill) == 0:
                return None
            return await cache.get(key)
        except (OSError, sqlite3.Error, SkillExecError):  # the cache is an optimisation only
            log.warning("result cache unavailable; running %s", skill.key, exc_info=True)
            cache.loaded = True
            return None

    def follow(self, key: str, task: ExecutionTask) -> Flight | None:
        """Join an identical call in flight (then share its result), or None to run."""
        if not self.settings.single_flight:
            return None
        return self.flights.join(key, task)

    def lead(self, key: str, task: ExecutionTask, skill: Skill, *, bypass: bool) -> None:
        cacheable = skill.execution.cacheable and self.ttl_s(skill) != 0
        self.flights.lead(key, task.task_id, cacheable=cacheable,
                          shared=self.settings.single_flight and not bypass,
                          ttl_s=self.ttl_s(skill))

    async def stale(self, task: ExecutionTask, skill: Skill) -> CacheRecord | None:
        """For a cacheable skill's call that failed: an expired result still allowed."""
        if not (self.enabled and skill.execution.cacheable and self.settings.stale_on_error_s):
            return None
        try:
            return await self.cache.get_stale(self.key(task))
        except (OSError, sqlite3.Error, SkillExecError):
            return None

    def landed(self, task_id: str) -> Flight | None:
        """A task ended: the flight it led, if it led one."""
        if not self.flights.by_task:
            return None
        return self.flights.land(task_id)

    def keep(self, flight: Flight, skill_id: str, version: str, value_json: bytes) -> None:
        """Cache a leader's successful result."""
        ttl = flight.ttl_s
        self.cache.put(CacheRecord(key=flight.key, value_json=value_json,
                                   expires_at=None if ttl is None else self._clock() + ttl,
                                   skill_id=skill_id, version=version))

    def stats(self) -> dict[str, Any]:
        return {**self.cache.stats, "entries": len(self.cache),
                "in_flight": len(self.flights), "shared": self.flights.shared}
