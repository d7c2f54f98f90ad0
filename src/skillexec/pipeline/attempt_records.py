"""What the attempt loop records of its attempts: a history entry, the errors of a call's
deadline, a retried task's metrics over all its attempts."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from skillexec.errors import ErrorInfo, ErrorType
from skillexec.runtime.runners.base import Outcome
from skillexec.skills.model import Skill
from skillexec.task import ExecutionTask
from skillexec.units import duration

__all__ = ["entry", "not_started", "over_attempts", "past_deadline"]


def entry(task: ExecutionTask, skill: Skill, outcome: Outcome,
           decision: str) -> dict[str, Any]:
    err = outcome.error
    entry: dict[str, Any] = {"attempt": task.attempts, "skill": skill.key,
                             "metrics": outcome.metrics,
                             "error": err.to_dict() if err else None, "decision": decision}
    if err is not None and outcome.traceback:
        entry["traceback"] = outcome.traceback[-4000:]
    return entry


def past_deadline(skill: Skill, task: ExecutionTask, err: ErrorInfo) -> ErrorInfo:
    """An attempt cut short by the call's deadline, not by its own timeout."""
    return dataclasses.replace(
        err, code="deadline_exceeded", retryable=False,
        message=f"skill {skill.id!r} did not finish within the call's deadline of "
                f"{duration(task.deadline_s)} (attempt {task.attempts}; each attempt may "
                f"take {duration(task.timeout_s)})",
        details={**err.details, "deadline_s": task.deadline_s})


def not_started(skill: Skill, task: ExecutionTask) -> ErrorInfo:
    """An attempt whose call's deadline passed before it began: started with no time left,
    an async skill's work before its first ``await`` would have run all the same."""
    return ErrorInfo(
        type=ErrorType.TIMEOUT, code="deadline_exceeded", retryable=False,
        message=f"skill {skill.id!r} was not started: the call's deadline of "
                f"{duration(task.deadline_s)} had passed while it waited (attempt "
                f"{task.attempts})", details={"deadline_s": task.deadline_s})


def over_attempts(last: dict[str, Any], history: list[dict[str, Any]],
                   started_at: float | None) -> dict[str, Any]:
    """A retried task's metrics: wall and CPU time over all its attempts (from the first
    one's start: no clock is read for the many tasks that ran once), the last's apart."""
    out = dict(last)
    out["last_attempt_wall_ms"] = last.get("wall_ms")
    if started_at is not None:
        out["wall_ms"] = (time.time() - started_at) * 1000.0
    cpu = [h["metrics"].get("cpu_ms") for h in history]
    if last.get("cpu_ms") is not None:
        out["last_attempt_cpu_ms"] = last["cpu_ms"]
    out["cpu_ms"] = sum(cpu) if all(c is not None for c in cpu) else None
    return out
