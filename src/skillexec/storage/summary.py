"""A finished task's summary: what a table of tasks shows of its result (its wall time, its
error's code and the gist of its message, its number of artifacts), kept beside the result.

The dashboard polls the task list every 3 s (``GET /api/executions?fields=summary``): read
from the results, each listed task's whole result was read and decoded (decrypted too, with
encryption on) for these few fields, 0.3 s of the server's CPU per refresh with results of
15 MB. The journal writes the summary (a small JSON document, ``summary`` column) with the
result at the task's end, and a list of summaries reads no result. A row written before the
column existed has none: its result is decoded, as before.

Stored as ``{"wall_ms", "artifacts", "error": {"code", "message"} | null}``. The message is
the error's (personal data): with encryption on it is sealed as the result's is
(``Codec.seal_result``, under a field of its own), while the wall time, the code and the
count stay clear, as the result's metrics and error code do. A purge blanks it as it blanks
the result (``rows.purged_result`` handles both documents).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from skillexec.storage.codec import PLAIN, Codec
from skillexec.task import ExecutionResult, TaskInfo, TaskStatus

__all__ = ["SUMMARY_COLUMNS", "SUMMARY_MESSAGE", "ResultSummary", "TaskSummary",
           "summary_json", "summary_of", "task_summary"]

# An error message in a summary is cut here: a table row needs its gist, and a skill's
# message can be as long as it likes.
SUMMARY_MESSAGE = 300
_FIELD = "summary"  # the sealed message's field (its associated data): not the result's

# A row's state and summary; its result only where it has no summary (a row written before
# the column existed), so that no other row's result is read at all.
SUMMARY_COLUMNS = (
    "task_id, skill_id, skill_version, status, priority, attempts, created_at, started_at,"
    " finished_at, principal, summary, CASE WHEN summary IS NULL THEN result END"
)


@dataclass(frozen=True, slots=True)
class ResultSummary:
    """What a task list shows of a result."""

    wall_ms: float | int | None
    error_code: str | None  # None: no error
    error_message: str | None  # cut to SUMMARY_MESSAGE characters
    artifacts: int


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """A task without its result (``info.result`` is None), and its result's summary
    (None: no result yet)."""

    info: TaskInfo
    result: ResultSummary | None

    @property
    def task_id(self) -> str:
        return self.info.task_id


def summary_of(result: ExecutionResult) -> ResultSummary:
    error = result.error
    return ResultSummary(wall_ms=result.metrics.get("wall_ms"),
                         error_code=None if error is None else error.code,
                         error_message=None if error is None
                         else error.message[:SUMMARY_MESSAGE],
                         artifacts=len(result.artifacts))


def summary_json(result: ExecutionResult, *, task_id: str, principal: str | None,
                 codec: Codec = PLAIN) -> bytes:
    """The stored summary of a task's result (its error's message sealed by ``codec``).
    Made at every task's end: written out here, not through :func:`summary_of`."""
    error = result.error
    body: dict[str, Any] = {"wall_ms": result.metrics.get("wall_ms"),
                            "artifacts": len(result.artifacts), "error": None}
    if error is not None:
        body["error"] = {"code": error.code, "message": error.message[:SUMMARY_MESSAGE]}
        if codec.enabled:
            body = codec.seal_result(body, task_id=task_id, principal=principal, field=_FIELD)
    return orjson.dumps(body, default=str)


def task_summary(row: tuple[Any, ...], codec: Codec = PLAIN) -> TaskSummary:
    """A row selected as ``SUMMARY_COLUMNS``; ``codec`` opens its sealed message."""
    task_id, principal = row[0], row[9]
    ended: ResultSummary | None = None
    if row[10] is not None:
        body = codec.open_result(orjson.loads(row[10]), task_id=task_id, principal=principal,
                                 field=_FIELD)
        error = body.get("error")
        ended = ResultSummary(wall_ms=body.get("wall_ms"),
                              error_code=None if not error else str(error.get("code")),
                              error_message=None if not error
                              else str(error.get("message") or "")[:SUMMARY_MESSAGE],
                              artifacts=int(body.get("artifacts") or 0))
    elif row[11]:  # written before summaries were kept: the result, decoded
        ended = summary_of(ExecutionResult.from_dict(codec.open_result(
            orjson.loads(row[11]), task_id=task_id, principal=principal)))
    return TaskSummary(TaskInfo(task_id=task_id, skill_id=row[1], skill_version=row[2],
                                status=TaskStatus(row[3]), priority=row[4], attempts=row[5],
                                created_at=row[6], started_at=row[7], finished_at=row[8],
                                principal=principal), ended)
