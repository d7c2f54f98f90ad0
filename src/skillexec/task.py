"""Tasks and their results: one request to run a skill, and what came of it."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from skillexec.errors import ErrorInfo

if TYPE_CHECKING:
    from skillexec.security.principals import Principal
    from skillexec.skills.model import Skill

__all__ = [
    "ArtifactRef",
    "ExecutionResult",
    "ExecutionTask",
    "Request",
    "TaskInfo",
    "TaskStatus",
    "new_task_id",
]


def new_task_id() -> str:
    """24 hex characters: microseconds since the epoch, then randomness.

    Ids sort by creation time, so the journal appends instead of inserting at random places
    in its index, and listing newest-first needs no extra index.
    """
    return f"{time.time_ns() // 1000:014x}{random.getrandbits(40):010x}"


class TaskStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.CANCELLED,
     TaskStatus.REJECTED}
)


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    id: str
    name: str
    mime: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "mime": self.mime, "size": self.size,
                "sha256": self.sha256}


class Request(NamedTuple):
    """One accepted request, resolved at admission: what the journal keeps and a resumed or
    replayed task is rebuilt from. Shared by the live task and the stored one.

    A NamedTuple rather than a frozen dataclass: built once per call on the hot path, and a
    tuple is the cheapest immutable record to make (measured: 0.34 us against 0.94 us for a
    frozen slotted dataclass, which sets each field through ``object.__setattr__``).
    ``timeout_s`` and ``max_retries`` are as resolved from the call, the skill and the
    engine's settings; what the engine then makes of them for one run (advice, clamps) lives
    on the task.
    """

    skill_id: str
    skill_version: str
    params: dict[str, Any]
    config: dict[str, Any]
    priority: int
    timeout_s: float
    max_retries: int
    idempotent: bool
    created_at: float
    principal: str | None = None
    deadline_s: float | None = None  # all attempts end this long after created_at
    # The folder of the skill it was accepted for (absolute; "" for a skill with no folder,
    # a decorated function): two folders may claim one id, so whatever runs the task again
    # checks that its id still names this folder (skillexec.pipeline.origin). None: not
    # known (a refusal, or a journal from before folders were kept).
    folder: str | None = None

    def at_version(self, version: str) -> Request:
        """The same request, answered by another version (a single-flight follower's)."""
        return self._replace(skill_version=version)


@dataclass(slots=True, eq=False)
class ExecutionTask:
    """The engine's working record of one invocation: the request, and the run's own state.

    Mutable; owned by the engine. The request's fields read through (``task.skill_id``);
    ``params``, ``timeout_s`` and ``max_retries`` start as the request's and are what this
    run uses (a fallback revalidates the parameters, advice and clamps change the others).
    """

    task_id: str
    request: Request
    params: dict[str, Any]
    timeout_s: float
    max_retries: int
    status: TaskStatus = TaskStatus.PENDING
    attempts: int = 0
    started_at: float | None = None
    queued_mono: float = 0.0  # monotonic clock when queued: queue wait and aging
    skill: Skill | None = None  # resolved at admission; not stored
    # The caller as admitted (its grants and permission ceiling: a fallback is checked
    # against them); not stored, so None for a task recovered or claimed from the journal.
    who: Principal | None = None
    claimed: bool = False  # a slot was taken for it at acceptance: its caller starts it
    timeout_fixed: bool = False  # the caller chose the timeout: no advisor changes it
    retries_fixed: bool = False  # the caller chose max_retries
    order_s: float = 0.0  # put back this far in its priority's queue (shortest-first)
    runner: str | None = None  # an isolation level chosen for this task (else the skill's)
    predicted_ms: float | None = None  # expected duration of an attempt, from history
    p_fail: float | None = None  # predicted probability that the task fails
    advice: object = None  # what the SmartExecutor keeps of this task; opaque to the rest
    # Its result from its end on, while the journal records it (a read of the live task
    # then answers with it, not an ended status without one).
    result: ExecutionResult | None = None

    @classmethod
    def of(cls, task_id: str, request: Request, *, status: TaskStatus = TaskStatus.PENDING,
           attempts: int = 0, skill: Skill | None = None) -> ExecutionTask:
        """A task for ``request``, its run values starting as the request's."""
        return cls(task_id, request, request.params, request.timeout_s, request.max_retries,
                   status, attempts, skill=skill)

    @property
    def skill_id(self) -> str:
        return self.request.skill_id

    @property
    def skill_version(self) -> str:
        return self.request.skill_version

    @property
    def config(self) -> dict[str, Any]:
        return self.request.config

    @property
    def priority(self) -> int:
        return self.request.priority

    @property
    def idempotent(self) -> bool:
        return self.request.idempotent

    @property
    def principal(self) -> str | None:
        return self.request.principal

    @property
    def created_at(self) -> float:
        return self.request.created_at

    @property
    def deadline_s(self) -> float | None:
        """All attempts end this long after acceptance (None: each attempt's timeout only)."""
        return self.request.deadline_s


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    task_id: str
    skill_id: str
    skill_version: str
    status: TaskStatus
    output: Any = None
    error: ErrorInfo | None = None
    attempts: int = 0
    cached: bool = False
    artifacts: tuple[ArtifactRef, ...] = ()
    metrics: dict[str, float | int | None] = field(default_factory=dict)
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is TaskStatus.SUCCEEDED

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "skill_id": self.skill_id,
            "skill_version": self.skill_version,
            "status": self.status._value_,  # not .value: a Python-level descriptor
            "output": self.output,
            "error": self.error.to_dict() if self.error else None,
            "attempts": self.attempts,
            "cached": self.cached,
            "artifacts": [a.to_dict() for a in self.artifacts],
            "metrics": dict(self.metrics),
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionResult:
        err = data.get("error")
        return cls(
            task_id=data["task_id"],
            skill_id=data["skill_id"],
            skill_version=data["skill_version"],
            status=TaskStatus(data["status"]),
            output=data.get("output"),
            error=ErrorInfo.from_dict(err) if err else None,
            attempts=int(data.get("attempts", 0)),
            cached=bool(data.get("cached", False)),
            artifacts=tuple(ArtifactRef(**a) for a in data.get("artifacts") or ()),
            metrics=dict(data.get("metrics") or {}),
            created_at=float(data.get("created_at") or 0.0),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
        )


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """A task as seen from outside, live or finished."""

    task_id: str
    skill_id: str
    skill_version: str
    status: TaskStatus
    priority: int
    attempts: int
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result: ExecutionResult | None = None
    principal: str | None = None  # who asked (None: ``local``)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "skill_id": self.skill_id,
            "skill_version": self.skill_version,
            "status": self.status._value_,  # not .value: a Python-level descriptor
            "priority": self.priority,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "result": self.result.to_dict() if self.result else None,
            "principal": self.principal or "local",
        }
