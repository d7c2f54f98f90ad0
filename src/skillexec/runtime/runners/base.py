"""The runner interface: what executes one attempt of a task.

Runners own the attempt's deadline (only they know how to stop what they started: a
coroutine is cancelled, a child process group is killed) and report what they measured.
The engine cancels the coroutine that awaits :meth:`Runner.run` to cancel an attempt; a
runner must stop its work before letting :class:`asyncio.CancelledError` through.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from skillexec.errors import ErrorInfo
from skillexec.runtime.context import SkillContext
from skillexec.skills.model import Skill

__all__ = ["Attempt", "AttemptLimits", "CancelledWithStreams", "Outcome", "Runner"]


# The records of one attempt (its limits, the attempt, its outcome) are plain slotted
# dataclasses, not frozen ones: a frozen dataclass sets each field through
# object.__setattr__, which made building these three, several times per call, cost ~5 % of
# an inline call's CPU instructions. Treat them as read-only all the same (a runner hands
# an Outcome on; the engine builds a new one, or uses dataclasses.replace, to change it).
@dataclass(slots=True)
class AttemptLimits:
    timeout_s: float
    memory_mb: int | None = None
    cpu_seconds: float | None = None
    max_output_bytes: int = 16 * 1024 * 1024


@dataclass(slots=True)
class Attempt:
    skill: Skill
    input_data: dict[str, Any]  # parameters at the top level, plus "parameters" and "config"
    context: SkillContext
    limits: AttemptLimits


@dataclass(slots=True)
class Outcome:
    """What one attempt produced: an output, or an error; plus what was measured.

    ``output`` is the skill's return value with the Py Copilot envelope already removed.
    Metrics a runner cannot measure honestly are absent (or None), never zero.
    """

    output: Any = None
    error: ErrorInfo | None = None
    metrics: dict[str, float | int | None] = field(default_factory=dict)
    traceback: str | None = None
    output_json: bytes | None = None  # the output encoded, once the engine has checked it

    @property
    def ok(self) -> bool:
        return self.error is None

    def failed_with(self, error: ErrorInfo) -> Outcome:
        """This attempt ended by ``error`` after all (a quota its files broke): a script's
        exit code and streams, what it had said, are kept in the error's details, as a
        timed-out script's are."""
        out = self.output if isinstance(self.output, dict) and "exit_code" in self.output \
            else self.error.details if self.error is not None else {}
        kept = {k: out[k] for k in ("exit_code", "stdout", "stderr") if k in out}
        if kept:
            error = dataclasses.replace(error, details={**kept, **error.details})
        return Outcome(error=error, metrics=self.metrics)


class CancelledWithStreams(asyncio.CancelledError):
    """An attempt of a script cancelled from outside (its task was cancelled: Ctrl-C, a
    cancel call), with what the script had printed so far: the cancelled result keeps it,
    as a timed-out script's keeps its own, for it says where the script was."""

    def __init__(self, streams: dict[str, str]) -> None:
        super().__init__("cancelled")
        self.streams = streams


@runtime_checkable
class Runner(Protocol):
    name: str

    def refusal(self, skill: Skill) -> ErrorInfo | None:
        """Why this runner will not run this skill on this machine, or None."""

    async def prepare(self, skill: Skill) -> None:
        """Get ready to run this skill fast (import it, warm a zygote). Idempotent."""

    async def run(self, attempt: Attempt) -> Outcome:
        """Run one attempt within ``attempt.limits``; never raise for a skill's failure."""

    async def close(self) -> None:
        """Release everything: threads, processes."""
