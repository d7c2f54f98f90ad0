"""Middleware: typed async hooks over the pipeline, for cross-cutting concerns.

Subclass :class:`Middleware` and override only the hooks you need; the engine calls a hook
only on middleware that overrides it, so an unused hook costs nothing on the hot path.
A middleware may refuse a task in ``on_submit`` by raising a SkillExecError.
"""

from __future__ import annotations

from skillexec.runtime.runners.base import Attempt, Outcome
from skillexec.skills.model import Skill
from skillexec.task import ExecutionResult, ExecutionTask

__all__ = ["HOOKS", "Middleware"]

HOOKS = ("on_submit", "before_attempt", "after_attempt", "on_finish")


class Middleware:
    async def on_submit(self, task: ExecutionTask, skill: Skill) -> None:
        """A task was accepted and is about to be queued."""

    async def before_attempt(self, task: ExecutionTask, attempt: Attempt) -> None:
        """An attempt is about to run."""

    async def after_attempt(self, task: ExecutionTask, attempt: Attempt,
                            outcome: Outcome) -> None:
        """An attempt ended (before retries are decided)."""

    async def on_finish(self, task: ExecutionTask, result: ExecutionResult) -> None:
        """The task reached its terminal state (and the journal has it)."""

    @classmethod
    def overrides(cls, hook: str) -> bool:
        return getattr(cls, hook) is not getattr(Middleware, hook)
