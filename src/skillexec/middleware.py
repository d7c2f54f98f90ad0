"""Middleware: typed hooks over the pipeline, for cross-cutting concerns.

Subclass :class:`Middleware` and override only the hooks you need; the engine calls a hook
only on middleware that overrides it, so an unused hook costs nothing on the hot path.
A hook may be ``async def`` (the engine awaits it) or a plain ``def`` that returns None: a
hook that never waits for anything (the monitor's, called for every task) is then a plain
call, without a coroutine made and driven per call.
A middleware may refuse a task in ``on_submit`` by raising a SkillExecError.
"""

from __future__ import annotations

from collections.abc import Awaitable

from skillexec.runtime.runners.base import Attempt, Outcome
from skillexec.skills.model import Skill
from skillexec.task import ExecutionResult, ExecutionTask

__all__ = ["HOOKS", "Middleware"]

HOOKS = ("on_submit", "before_attempt", "after_attempt", "on_finish")


class Middleware:
    def on_submit(self, task: ExecutionTask, skill: Skill) -> Awaitable[None] | None:
        """A task was accepted and is about to be queued."""
        return None

    def before_attempt(self, task: ExecutionTask, attempt: Attempt) -> Awaitable[None] | None:
        """An attempt is about to run."""
        return None

    def after_attempt(self, task: ExecutionTask, attempt: Attempt,
                      outcome: Outcome) -> Awaitable[None] | None:
        """An attempt ended (before retries are decided)."""
        return None

    def on_finish(self, task: ExecutionTask, result: ExecutionResult) -> Awaitable[None] | None:
        """The task reached its terminal state (and the journal has it)."""
        return None

    @classmethod
    def overrides(cls, hook: str) -> bool:
        return getattr(cls, hook) is not getattr(Middleware, hook)
