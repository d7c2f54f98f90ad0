"""ResourceManager: admission (quotas, rate, pressure), bulkheads, per-call limits, usage.

It meets the pipeline at four points: ``admit`` (a task was built: refuse it, or fix its
limits), the executor's :class:`~skillexec.scheduling.executor.Gate` (``blocked``,
``enter``, ``leave``: may it take a slot now?), ``finished`` (account its usage) and its
pressure gauge, sampled in the background, whose changes reopen what pressure held back.
With no limit configured, each of these is a few attribute reads.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from skillexec.errors import ResourceError
from skillexec.resources.limits import CallLimits, ResourceLimits
from skillexec.resources.pressure import PressureGauge
from skillexec.resources.ratelimit import TokenBucket
from skillexec.resources.usage import UsageLedger
from skillexec.skills.model import Skill
from skillexec.task import ExecutionTask

__all__ = ["PRESSURE_KEY", "ResourceManager"]

log = logging.getLogger("skillexec.resources")

PRESSURE_KEY = "pressure"
_EVENT_EVERY_S = 1.0  # refusals are journaled at most this often per reason (with a count)

Journal = Callable[[str, dict[str, Any]], object]


class ResourceManager:
    def __init__(self, *, limits: ResourceLimits | None = None,
                 pressure: PressureGauge | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or ResourceLimits()
        self.pressure = pressure if pressure is not None else PressureGauge()
        self._clock = clock
        lim = self.limits
        ps = self.pressure.settings
        self._pressure_on = ps.enabled
        self._pressure_waits = ps.enabled and ps.action == "wait"
        self._min_priority = ps.min_priority
        self._skill_limits: dict[str, int] = dict(lim.skill_concurrency)
        self._adapted: set[str] = set()  # skills whose limit adaptive tuning now sets
        self._default_skill_limit = lim.skill_concurrency_default
        self._principal_limit = lim.principal_concurrency
        self._buckets: dict[str, TokenBucket] | None = (
            {} if lim.principal_rate_per_s is not None else None)
        self._call_defaults = lim.call
        self._has_call_defaults = not lim.call.empty
        self.output_limits: dict[str, int] = {}  # task id -> tighter output bound than the engine's
        # Gated: some limit may hold a task back, so the executor must ask ``blocked``.
        self._gated_static = bool(self._skill_limits or self._default_skill_limit is not None
                                  or self._principal_limit is not None)
        self.gated = self._gated_static or (self._pressure_waits and self.pressure.active)
        self.running_by_skill: dict[str, int] = {}
        self.running_by_principal: dict[str, int] = {}
        self.ledger = UsageLedger()
        # (skill_id, principal, metrics, *, ok, cached, refused, cancelled)
        self.finished = self.ledger.record
        self.counters: dict[str, int] = {
            "refused_pressure": 0, "refused_rate": 0, "deferred_pressure": 0,
            "deferred_skill_limit": 0, "deferred_principal_limit": 0,
            "pressure_on": 0, "pressure_off": 0, "limits_tightened": 0}
        self._journal: Journal | None = None
        self._reopen: Callable[[Iterable[str]], None] | None = None
        self._last_event: dict[str, tuple[float, int]] = {}
        self.sampling = not self._pressure_on  # True: nothing to start
        self.pressure.on_change(self._pressure_changed)
        # Low-priority work that declares memory_mb is admitted only while it fits under
        # the memory threshold, counting what was admitted since the last sample.
        self._reserved_mb = 0.0
        self._reserving = 0  # tasks parked for want of room
        self.pressure.on_sample(self._sampled)

    def bind(self, *, journal: Journal | None,
             reopen: Callable[[Iterable[str]], None] | None) -> None:
        """Where decisions are journaled, and how limits that opened restart waiting work."""
        self._journal = journal
        self._reopen = reopen

    # -- admission ---------------------------------------------------------------------------

    def admit(self, task: ExecutionTask, skill: Skill, request: CallLimits | None, *,
              timeout_given: bool) -> None:
        """Refuse the task (ResourceError) or settle its limits, before it is queued."""
        ex = skill.execution
        if (ex.concurrency is not None and skill.id not in self.limits.skill_concurrency
                and self._skill_limits.get(skill.id) != ex.concurrency
                and skill.id not in self._adapted):
            self._skill_limits[skill.id] = ex.concurrency
            self._gated_static = self.gated = True
        if (self._pressure_waits and not self._gated_static and ex.memory_mb is not None
                and task.priority < self._min_priority):
            self._gated_static = self.gated = True  # memory reservations need the gate
        if (self._pressure_on and self.pressure.active and task.priority < self._min_priority):
            if self._pressure_waits:
                self.counters["deferred_pressure"] += 1
            else:
                self.counters["refused_pressure"] += 1
                self._event("refused", reason="pressure", skill_id=skill.id,
                            priority=task.priority, **self.pressure.reasons())
                raise ResourceError(
                    "the machine is under pressure (" + self._why() + "); priority "
                    f"{task.priority} work is refused until it eases: retry later",
                    code="system_pressure", retryable=True,
                    details={"retry_after_s": self.pressure.settings.retry_after_s,
                             "priority": task.priority, "min_priority": self._min_priority,
                             **self.pressure.reasons()})
        if self._buckets is not None and task.principal is not None:
            self._take_token(task.principal, skill.id)
        if request is not None or self._has_call_defaults:
            self._settle_limits(task, skill, request, timeout_given=timeout_given)

    def _take_token(self, principal: str, skill_id: str) -> None:
        assert self._buckets is not None
        bucket = self._buckets.get(principal)
        if bucket is None:
            rate = self.limits.principal_rate_per_s
            assert rate is not None
            burst = self.limits.principal_burst or max(1, int(rate))
            bucket = self._buckets[principal] = TokenBucket(rate_per_s=rate, burst=burst,
                                                            clock=self._clock)
        wait_s = bucket.take()
        if wait_s > 0.0:
            self.counters["refused_rate"] += 1
            self._event("refused", reason="rate", principal=principal, skill_id=skill_id)
            raise ResourceError(
                f"principal {principal!r} is over its rate of "
                f"{self.limits.principal_rate_per_s:g} calls/s: retry in {wait_s:.3f} s",
                code="rate_limited", retryable=True,
                details={"retry_after_s": round(wait_s, 3), "principal": principal,
                         "rate_per_s": self.limits.principal_rate_per_s})

    def call_limits(self, skill: Skill, request: CallLimits | None = None) -> CallLimits:
        """The limits a call of ``skill`` runs with: defaults < manifest, then ``request``
        tightens."""
        ex = skill.execution
        base = CallLimits(memory_mb=ex.memory_mb, cpu_seconds=ex.cpu_seconds,
                          wall_s=ex.timeout_s).over(self._call_defaults)
        return base if request is None else base.tighten(request)

    def _settle_limits(self, task: ExecutionTask, skill: Skill, request: CallLimits | None,
                       *, timeout_given: bool) -> None:
        eff = self.call_limits(skill, request)
        ex = skill.execution
        if eff.wall_s is not None and ((request is not None and request.wall_s is not None)
                                       or not timeout_given):
            # Without an explicit timeout=, the call's wall limit is the timeout; a
            # requested wall limit tightens even an explicit timeout.
            task.timeout_s = (min(task.timeout_s, eff.wall_s) if timeout_given
                              or ex.timeout_s is not None else eff.wall_s)
        if eff.memory_mb != ex.memory_mb or eff.cpu_seconds != ex.cpu_seconds:
            task.skill = dataclasses.replace(skill, execution=dataclasses.replace(
                ex, memory_mb=eff.memory_mb, cpu_seconds=eff.cpu_seconds))
            self.counters["limits_tightened"] += 1
        if eff.max_output_bytes is not None:
            self.output_limits[task.task_id] = eff.max_output_bytes

    def skill_limit(self, skill: Skill) -> int | None:
        """The concurrency limit configured for a skill (config, else manifest), or None."""
        configured = self.limits.skill_concurrency.get(skill.id)
        if configured is not None:
            return configured
        if skill.execution.concurrency is not None:
            return skill.execution.concurrency
        return self._default_skill_limit

    def skill_limits(self) -> dict[str, int]:
        """The per-skill concurrency limits in force now, by skill."""
        return dict(self._skill_limits)

    def set_skill_limit(self, skill_id: str, limit: int) -> None:
        """Adaptive tuning moved a skill's concurrency limit (within the configured one)."""
        old = self._skill_limits.get(skill_id, self._default_skill_limit)
        self._skill_limits[skill_id] = limit
        self._adapted.add(skill_id)
        self._gated_static = self.gated = True
        if (old is None or limit > old) and self._reopen is not None:
            self._reopen(("skill:" + skill_id,))

    # -- the executor's gate -----------------------------------------------------------------

    def blocked(self, task: ExecutionTask) -> str | None:
        if self._pressure_waits and task.priority < self._min_priority:
            if self.pressure.active:
                return PRESSURE_KEY
            mem = _memory_mb(task)
            if mem is not None:
                room = self.pressure.room_mb()
                if room is not None and self._reserved_mb + mem > room:
                    self.counters["deferred_pressure"] += 1
                    self._reserving += 1
                    return PRESSURE_KEY
        limit = self._skill_limits.get(task.skill_id, self._default_skill_limit)
        if limit is not None and self.running_by_skill.get(task.skill_id, 0) >= limit:
            self.counters["deferred_skill_limit"] += 1
            return "skill:" + task.skill_id
        plimit = self._principal_limit
        if (plimit is not None and task.principal is not None
                and self.running_by_principal.get(task.principal, 0) >= plimit):
            self.counters["deferred_principal_limit"] += 1
            return "principal:" + task.principal
        return None

    # ``enter``/``leave`` are called only while ``gated``: a task that started before the
    # first limit appeared is not counted (its leave finds nothing to take away).

    def enter(self, task: ExecutionTask) -> None:
        if self._pressure_waits and task.priority < self._min_priority:
            mem = _memory_mb(task)
            if mem is not None:
                self._reserved_mb += mem
        rs = self.running_by_skill
        rs[task.skill_id] = rs.get(task.skill_id, 0) + 1
        if task.principal is not None:
            rp = self.running_by_principal
            rp[task.principal] = rp.get(task.principal, 0) + 1

    def leave(self, task: ExecutionTask) -> Iterable[str]:
        rs = self.running_by_skill
        n = rs.get(task.skill_id, 0) - 1
        if n > 0:
            rs[task.skill_id] = n
        else:
            rs.pop(task.skill_id, None)
        if task.principal is not None:
            rp = self.running_by_principal
            m = rp.get(task.principal, 0) - 1
            if m > 0:
                rp[task.principal] = m
            else:
                rp.pop(task.principal, None)
            return ("skill:" + task.skill_id, "principal:" + task.principal)
        return ("skill:" + task.skill_id,)

    # -- pressure ----------------------------------------------------------------------------

    def _why(self) -> str:
        p = self.pressure
        return f"memory {p.memory_pct:.0f}%, cpu {p.cpu_pct:.0f}%"

    def _pressure_changed(self, active: bool) -> None:
        self.gated = self._gated_static or (self._pressure_waits and active)
        self.counters["pressure_on" if active else "pressure_off"] += 1
        log.info("system pressure %s: %s", "on" if active else "off", self._why())
        self._event("pressure", reason="on" if active else "off", force=True,
                    **self.pressure.reasons())
        if not active and self._reopen is not None:
            self._reopen((PRESSURE_KEY,))

    def _sampled(self) -> None:
        self._reserved_mb = 0.0  # what was admitted is in the new sample now
        if self._reserving and not self.pressure.active and self._reopen is not None:
            self._reserving = 0
            self._reopen((PRESSURE_KEY,))

    def sampler(self) -> Coroutine[Any, Any, None] | None:
        """The background sampler to run, if it is not running yet (the engine starts it
        with its first call; closing the engine cancels it)."""
        if not self._pressure_on or self.sampling:
            return None
        self.sampling = True
        return self._sample_forever()

    async def _sample_forever(self) -> None:
        try:
            await self.pressure.run()
        finally:
            self.sampling = False

    # -- accounting ----------------------------------------------------------------------------


    def usage(self) -> dict[str, Any]:
        """Calls, CPU seconds, wall seconds and peak memory, per skill and per principal."""
        return self.ledger.snapshot()

    def snapshot(self) -> dict[str, Any]:
        """What the monitor reads: counters, what runs, and the pressure gauge."""
        return {"counters": dict(self.counters),
                "running_by_skill": dict(self.running_by_skill),
                "running_by_principal": dict(self.running_by_principal),
                "pressure": {"active": self.pressure.active, "samples": self.pressure.samples,
                             **self.pressure.reasons()}}

    def _event(self, kind: str, *, reason: str, force: Any = False, **data: Any) -> None:
        if self._journal is None:
            return
        now = time.monotonic()
        last, skipped = self._last_event.get(reason, (0.0, 0))
        if not force and now - last < _EVENT_EVERY_S:
            self._last_event[reason] = (last, skipped + 1)
            return
        self._last_event[reason] = (now, 0)
        self._journal("resource", {"decision": kind, "reason": reason,  # never raises
                                   "also_since_last": skipped, **data})


def _memory_mb(task: ExecutionTask) -> int | None:
    skill = task.skill
    return None if skill is None else skill.execution.memory_mb
