"""ErrorHandler: after each failed attempt, decide what happens next.

The engine asks :meth:`ErrorHandler.admit` before queueing a task (a circuit that is open
refuses it: ``circuit_open``) and :meth:`ErrorHandler.decide` after every attempt. Decisions
are data, recorded in the task's history: done, retry after a delay, run the fallback skill,
or give up, each with the reason. Policy, in order: an error is normalised by the classifier
(codes, HTTP statuses, Retry-After); an attempt that may still be running (an inline
thread past its timeout: ``details.attempt_may_still_run``) is never followed by another
unless the skill is ``idempotent``; it is retried if the strategy allows it (type policy,
the skill's ``retry_on``/``backoff``, the call's ``max_retries``), the skill's breaker is not
open, the retry ends before the task's deadline and the skill's retry budget has a token;
otherwise the fallback skill runs, if there is one; otherwise the task gives up and, once
finished, gets a dead-letter record in the journal (``skillexec tasks replay``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from skillexec.errors import ErrorInfo, ErrorSeverity, ErrorType, ResourceError
from skillexec.reliability.breaker import BREAKER_EVENT, BreakerState, CircuitBreaker, Transition
from skillexec.reliability.budget import RetryBudget
from skillexec.reliability.classify import ErrorClassifier
from skillexec.reliability.retry import (
    NEVER_RETRIED,
    ExponentialBackoffRetryStrategy,
    RetryStrategy,
)
from skillexec.reliability.settings import ReliabilitySettings
from skillexec.skills.model import Skill
from skillexec.storage.journal import EventWriter
from skillexec.task import ExecutionResult, ExecutionTask, TaskStatus
from skillexec.units import duration

if TYPE_CHECKING:
    from skillexec.reliability.analysis import ErrorReport
    from skillexec.storage.store import TaskStore

__all__ = ["Decision", "ErrorHandler"]

log = logging.getLogger("skillexec.reliability")

Action = Literal["done", "retry", "fallback", "give_up"]

# Failures that say the skill (or what it depends on) is unwell, for its breaker. A skill
# that rejects its input with a permanent error answered: that is not a failure of health.
_HEALTH_TYPES = frozenset({ErrorType.NETWORK, ErrorType.TIMEOUT, ErrorType.RESOURCE})


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str = ""
    delay_s: float = 0.0
    fallback: str | None = None  # the skill id to run instead, for "fallback"
    timeout_s: float | None = None  # the next attempt's timeout, when it changes
    error: ErrorInfo | None = None  # the attempt's error as classified (normalised)

    def describe(self) -> str:
        if self.action == "retry":
            text = f"retry after {duration(self.delay_s)}"
            if self.timeout_s is not None:
                text += f" with timeout {duration(self.timeout_s)}"
            return text + (f" ({self.reason})" if self.reason else "")
        if self.action == "fallback":
            return f"fallback to {self.fallback}" + (f" ({self.reason})" if self.reason else "")
        if self.action == "give_up":
            return "give up" + (f": {self.reason}" if self.reason else "")
        return self.action + (f": {self.reason}" if self.reason else "")


# The answer for every attempt that succeeded, shared: a frozen dataclass is immutable, and
# making one sets each field through object.__setattr__ (per call, on the hot path).
_DONE = Decision("done")


class ErrorHandler:
    def __init__(self, *, classifier: ErrorClassifier, retry: RetryStrategy,
                 config: Any = None, settings: ReliabilitySettings | None = None,
                 store: TaskStore | Callable[[], TaskStore] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or ReliabilitySettings.from_config(config)
        s = self.settings
        if isinstance(retry, ExponentialBackoffRetryStrategy) and (
                retry.jitter != s.jitter or retry.max_retry_after_s != s.max_retry_after_s):
            retry = replace(retry, jitter=s.jitter, max_retry_after_s=s.max_retry_after_s)
        self.classifier = classifier
        self.retry = retry
        self.budget = RetryBudget(ratio=s.budget_ratio, max_tokens=s.budget_max_tokens,
                                  enabled=s.budget_enabled)
        self.events = EventWriter(store)  # breaker transitions, dead letters
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        self._strategies: dict[str, RetryStrategy] = {}
        self._previous: dict[str, float] = {}  # task id → its last delay (decorrelated)

    # -- the engine's calls ------------------------------------------------------------------

    def refuse_if_open(self, skill: Skill) -> None:
        """Raise a SkillExecError to refuse a task before it is queued."""
        if not self.settings.breaker_enabled:
            return
        breaker = self.breaker(skill.id)
        if breaker.allow():
            return
        wait = breaker.retry_after()
        raise ResourceError(
            f"skill {skill.id!r} is failing: its circuit breaker is {breaker.state.value}, "
            f"so calls fail fast; try again in {wait:.1f} s",
            code="circuit_open", retryable=True, severity=ErrorSeverity.MEDIUM,
            details={"retry_after_s": round(wait, 3), "retry_after": round(wait, 3),
                     "skill": skill.id, "breaker": breaker.state.value})

    def decide(self, task: ExecutionTask, skill: Skill, raw: ErrorInfo | None, *,
               deadline: float, fallback_used: bool) -> Decision:
        """What follows an attempt that ended with ``raw`` (None: it succeeded)."""
        first = task.attempts <= 1 and not fallback_used
        if first:
            self.budget.deposit(skill.id)
        breaker = self.breaker(skill.id) if self.settings.breaker_enabled else None
        if raw is None:
            if breaker is not None:
                breaker.record(True)
            return _DONE
        err = self.classifier.classify_info(raw)
        if breaker is not None and err.type is not ErrorType.CANCELLED:
            breaker.record(not (err.retryable or err.type in _HEALTH_TYPES))
        strategy = self._strategy(skill)
        label = f"{err.type.value}/{err.code}"
        if err.details.get("attempt_may_still_run") and not skill.execution.idempotent:
            # Another attempt (or the fallback) would overlap the one that may still run.
            note = (f"not retried: the attempt's thread may still run and {skill.id!r} is "
                    "not declared idempotent")
            # retryable False: a caller reading the contract field must not repeat what
            # the engine has just declared unsafe to repeat.
            err = replace(err, message=f"{err.message}; {note}", retryable=False,
                          details={**err.details, "not_retried": note})
            return Decision("give_up", reason=f"{label}; {note}", error=err)
        reason: str
        if strategy.should_retry(err, task.attempts, task.max_retries):
            delay = self._delay(strategy, err, task)
            remaining = deadline - time.time()
            if breaker is not None and breaker.state is BreakerState.OPEN:
                reason = f"breaker open for {skill.id}, no retry"
            elif delay + 0.001 >= remaining:
                reason = (f"{label}; a retry after {delay * 1000:.0f} ms would pass the "
                          "task's deadline")
            elif not self.budget.try_spend(skill.id):
                reason = f"{label}; retry budget of {skill.id} exhausted"
            else:
                self._previous[task.task_id] = delay
                timeout = self._grown_timeout(task, err, remaining - delay)
                limit = strategy.get_max_attempts(task.max_retries)
                reason = f"{label}, attempt {task.attempts + 1} of {limit}"
                if err.details.get("attempt_may_still_run"):
                    reason += "; the earlier attempt may still run: retried as idempotent"
                return Decision("retry", delay_s=delay, timeout_s=timeout, error=err,
                                reason=reason)
        elif err.type in NEVER_RETRIED:
            reason = f"{label} is never retried"
        elif not err.retryable:
            reason = f"{label} is not retryable"
        else:
            reason = f"{label}; retries used ({task.attempts} attempts)"
        fallback = skill.execution.fallback
        if (fallback and not fallback_used and err.type not in NEVER_RETRIED
                and fallback != skill.id):
            return Decision("fallback", reason=reason, fallback=fallback, error=err)
        return Decision("give_up", reason=reason, error=err)

    def on_finish(self, task: ExecutionTask, result: ExecutionResult) -> None:
        """A task ended: forget its state; journal a dead letter if recovery was exhausted."""
        self._previous.pop(task.task_id, None)
        err = result.error
        if result.status is TaskStatus.REJECTED:
            if err is not None and err.code != "circuit_open":
                b = self._breakers.get(task.skill_id)
                if b is not None:
                    b.release()  # a probe it let through that will not run
            return
        if (self.settings.dead_letters and err is not None
                and result.status in (TaskStatus.FAILED, TaskStatus.TIMED_OUT)):
            self._journal("dead_letter", {
                "task_id": task.task_id, "skill_id": task.skill_id,
                "skill_version": task.skill_version, "status": result.status.value,
                "attempts": result.attempts, "error": err.to_dict()})

    # -- parts -------------------------------------------------------------------------------

    @property
    def store(self) -> TaskStore | None:
        """The journal these decisions are recorded in (None without one)."""
        return self._get_store()

    async def dead_letters(self, *, since: float = 0.0,
                           include_replayed: bool = False) -> list[dict[str, Any]]:
        """Tasks that exhausted recovery (and, by default, were not replayed since)."""
        from skillexec.reliability.deadletter import dead_letters

        store = self._get_store()
        await self.flush()
        return [] if store is None else await dead_letters(
            store, since=since, include_replayed=include_replayed)

    def breaker(self, skill_id: str) -> CircuitBreaker:
        b = self._breakers.get(skill_id)
        if b is None:
            b = self._breakers[skill_id] = CircuitBreaker(
                skill_id, self.settings, clock=self._clock, on_transition=self._transition)
        return b

    def breakers(self) -> dict[str, dict[str, Any]]:
        """Each skill's breaker: state, attempts in its window and their failure rate."""
        out = {}
        for skill_id, b in self._breakers.items():
            calls, rate = b.stats()
            out[skill_id] = {"state": b.state.value, "calls": calls,
                             "failure_rate": round(rate, 4),
                             "retry_after_s": round(b.retry_after(), 3)}
        return out

    async def report(self, *, since: float | None = None, until: float | None = None,
                     limit: int = 10000) -> ErrorReport:
        """Failures in the journal grouped by skill, ErrorType and message fingerprint."""
        from skillexec.reliability.analysis import error_report

        store = self._get_store()
        if store is None:
            raise ResourceError("no journal to report from", code="no_journal")
        await self.flush()
        return await error_report(store, since=since, until=until, limit=limit)

    def _strategy(self, skill: Skill) -> RetryStrategy:
        s = self._strategies.get(skill.key)
        if s is None:
            execution = skill.manifest.get("execution") if skill.manifest else None
            s = self.retry
            if isinstance(s, ExponentialBackoffRetryStrategy) and isinstance(execution, dict):
                s = s.for_skill(execution)
            self._strategies[skill.key] = s
        return s

    def _delay(self, strategy: RetryStrategy, err: ErrorInfo, task: ExecutionTask) -> float:
        if isinstance(strategy, ExponentialBackoffRetryStrategy):
            return strategy.get_delay(err, task.attempts, self._previous.get(task.task_id))
        return strategy.get_delay(err, task.attempts)

    def _grown_timeout(self, task: ExecutionTask, err: ErrorInfo,
                       room: float) -> float | None:
        grow = self.settings.grow_timeout
        if err.type is not ErrorType.TIMEOUT or grow <= 1.0:
            return None
        wanted = min(task.timeout_s * grow, room)
        return wanted if wanted > task.timeout_s else None

    def _transition(self, t: Transition) -> None:
        log.warning("circuit breaker of %s: %s → %s (%s)", t.skill, t.old.value,
                    t.new.value, t.reason)
        self._journal(BREAKER_EVENT, t.to_dict())

    def _get_store(self) -> TaskStore | None:
        return self.events.store

    def _journal(self, kind: str, data: dict[str, Any]) -> None:
        self.events.record(kind, data)

    async def flush(self) -> None:
        """Wait until the events journaled so far (breakers, dead letters) are durable."""
        await self.events.flush()
