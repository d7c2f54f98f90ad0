"""ErrorHandler: after each failed attempt, decide what happens next.

The engine asks :meth:`ErrorHandler.admit` before queueing a task (a circuit that is open
refuses it) and :meth:`ErrorHandler.decide` after every attempt. Decisions are data, recorded
in the task's history: done, retry after a delay, run the fallback skill, or give up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from skillexec.errors import ErrorType
from skillexec.reliability.classify import ErrorClassifier
from skillexec.reliability.retry import NEVER_RETRIED, RetryStrategy
from skillexec.runtime.runners.base import Outcome
from skillexec.skills.model import Skill
from skillexec.task import ExecutionResult, ExecutionTask

__all__ = ["Decision", "ErrorHandler"]

Action = Literal["done", "retry", "fallback", "give_up"]


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str = ""
    delay_s: float = 0.0
    fallback: str | None = None  # the skill id to run instead, for "fallback"
    timeout_s: float | None = None  # the next attempt's timeout, when it changes

    def describe(self) -> str:
        if self.action == "retry":
            return f"retry after {self.delay_s * 1000:.0f} ms" + (
                f" ({self.reason})" if self.reason else "")
        if self.action == "fallback":
            return f"fallback to {self.fallback}" + (f" ({self.reason})" if self.reason else "")
        return self.action + (f": {self.reason}" if self.reason else "")


class ErrorHandler:
    def __init__(self, *, classifier: ErrorClassifier, retry: RetryStrategy) -> None:
        self.classifier = classifier
        self.retry = retry

    def admit(self, skill: Skill) -> None:
        """Raise a SkillExecError to refuse a task before it is queued."""

    def decide(self, task: ExecutionTask, skill: Skill, outcome: Outcome, *,
               deadline: float, fallback_used: bool) -> Decision:
        err = outcome.error
        if err is None:
            return Decision("done")
        if self.retry.should_retry(err, task.attempts, task.max_retries):
            delay = self.retry.get_delay(err, task.attempts)
            if time.time() + delay + 0.001 < deadline:
                return Decision("retry", delay_s=delay)
            reason = "a retry would pass the task's deadline"
        elif err.type in NEVER_RETRIED:
            reason = f"{err.type.value} is never retried"
        elif not err.retryable:
            reason = "not retryable"
        else:
            reason = f"{task.max_retries} retries used"
        fallback = skill.execution.fallback
        if (fallback and not fallback_used and err.type not in NEVER_RETRIED
                and err.type is not ErrorType.CANCELLED):
            return Decision("fallback", reason=reason, fallback=fallback)
        return Decision("give_up", reason=reason)

    def on_finish(self, task: ExecutionTask, result: ExecutionResult) -> None:
        """A task ended (for statistics: breakers, budgets, error analysis)."""
