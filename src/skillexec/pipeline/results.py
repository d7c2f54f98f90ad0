"""Results: what an attempt loop's outcome becomes for its caller — the call's own output
limit checked, and the ``ExecutionResult`` with its metrics completed."""

from __future__ import annotations

import time

import orjson

from skillexec.errors import ErrorType, ResourceError
from skillexec.runtime.runners.base import Outcome
from skillexec.task import ArtifactRef, ExecutionResult, ExecutionTask, TaskStatus

__all__ = ["output_limit", "result_of"]


def output_limit(limits: dict[str, int], task: ExecutionTask, outcome: Outcome) -> Outcome:
    """A call's own ``max_output_bytes`` (its ``limits=``), checked on the encoded output
    (taken out of ``limits``: checked once)."""
    limit = limits.pop(task.task_id, None)
    if limit is None or outcome.error is not None:
        return outcome
    size = len(outcome.output_json if outcome.output_json is not None
               else orjson.dumps(outcome.output, default=str))
    if size <= limit:
        return outcome
    return Outcome(error=ResourceError(
        f"the output is {size} bytes, over this call's limit of {limit} bytes",
        code="output_too_large", details={"size": size, "max_output_bytes": limit}).info,
        metrics=outcome.metrics)


_ENDS = {ErrorType.TIMEOUT: TaskStatus.TIMED_OUT, ErrorType.CANCELLED: TaskStatus.CANCELLED}


def result_of(task: ExecutionTask, outcome: Outcome, status: TaskStatus | None,
              artifacts: list[ArtifactRef] | None, cached: bool) -> ExecutionResult:
    """What a task came to (``status`` None: as its outcome says); its metrics completed."""
    err, req = outcome.error, task.request
    if status is None:
        status = TaskStatus.SUCCEEDED if err is None else _ENDS.get(err.type, TaskStatus.FAILED)
    now = time.time()
    metrics = outcome.metrics
    if task.started_at is not None:
        metrics["wall_ms"] = metrics.get("wall_ms") or (now - task.started_at) * 1000.0
    if task.predicted_ms is not None:
        # Unrounded, like wall_ms: round(x, n) costs more than the bytes it saves.
        metrics["predicted_ms"] = task.predicted_ms
        metrics["p_fail"] = task.p_fail
    return ExecutionResult(
        task_id=task.task_id, skill_id=req.skill_id, skill_version=req.skill_version,
        status=status, output=outcome.output if err is None else None, error=err,
        attempts=task.attempts, cached=cached, artifacts=tuple(artifacts or ()),
        metrics=metrics, created_at=req.created_at, started_at=task.started_at,
        finished_at=now)
