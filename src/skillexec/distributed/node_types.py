"""The contracts of a worker node: the settings it reads, the engine it drives, what a
delivery came to, and the error of a task whose worker vanished."""

from __future__ import annotations

import enum
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Protocol

from skillexec.errors import ErrorInfo, ErrorType
from skillexec.storage.store import StoredTask
from skillexec.task import ExecutionResult, TaskStatus
from skillexec.units import duration

__all__ = ["ClaimedRunner", "Delivery", "NodeEngine", "NodeSettings", "Publisher",
           "Unstarted", "interrupted_info", "new_worker_id", "past_deadline"]


class NodeSettings(Protocol):
    """What a worker reads of the ``distributed`` settings (given its section, never the
    settings tree)."""

    @property
    def database_url(self) -> str | None: ...

    @property
    def lease_s(self) -> float: ...

    @property
    def heartbeat_s(self) -> float: ...

    @property
    def reconcile_after_s(self) -> float: ...

    @property
    def sweep_interval_s(self) -> float: ...

    @property
    def shutdown_grace_s(self) -> float: ...

    @property
    def hand_back_pause_s(self) -> float: ...

    @property
    def claim_ahead_s(self) -> float: ...


class Unstarted(enum.Enum):
    """Why a claimed task did not start on its worker (the worker hands it back)."""

    NO_SKILL = "its skill is not on this node"
    START_NOT_WRITTEN = "the journal could not record its start"
    GIVEN_BACK = "its worker gave it back before it started"  # stopping, or cut off


class ClaimedRunner(Protocol):
    async def run(self, st: StoredTask) -> ExecutionResult | Unstarted: ...

    def give_back(self, task_id: str) -> bool: ...

    async def end(self, st: StoredTask, error: ErrorInfo, *,
                  status: TaskStatus | None = None) -> ExecutionResult: ...


class NodeEngine(Protocol):
    """The narrow view of the engine a worker drives."""

    @property
    def claimed(self) -> ClaimedRunner: ...

    async def start(self) -> None: ...

    async def close(self, *, grace_s: float = 30.0) -> None: ...

    async def cancel(self, task_id: str, *, wait_s: float = 5.0) -> bool: ...


class Publisher(Protocol):
    def publish(self, task_id: str, *, priority: int, queue: str | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one message: ran, refused (duplicate/stale/ended), or requeue."""

    outcome: str


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def interrupted_info(task_id: str, skill_id: str) -> ErrorInfo:
    return ErrorInfo(type=ErrorType.EXECUTION, code="interrupted", retryable=False,
                     message=f"the worker running task {task_id} stopped (its lease ran "
                             f"out); skill {skill_id!r} is not idempotent, so it was not "
                             "re-run")


def past_deadline(st: StoredTask, now: float) -> ErrorInfo | None:
    """The error of a claimed task whose call's deadline (counted from its submission)
    passed while it waited for a worker: it is not started; None: time is left."""
    r = st.request
    if r.deadline_s is None or now < r.created_at + r.deadline_s:
        return None
    return ErrorInfo(type=ErrorType.TIMEOUT, code="deadline_exceeded", retryable=False,
                     message=f"task {st.task_id} waited for a worker past its call's "
                             f"deadline of {duration(r.deadline_s)}: it was not started",
                     details={"deadline_s": r.deadline_s})
