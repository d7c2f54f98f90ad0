"""JournalWatcher: what other engines on the same journal ask of this one, and the ends of
tasks they own."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping

from skillexec.errors import (
    ErrorInfo,
    ErrorType,
    SkillExecError,
    TaskNotFoundError,
    WaitTimeoutError,
)
from skillexec.pipeline.recovery import Recoverer
from skillexec.storage.store import TaskStore
from skillexec.task import ExecutionResult, TaskInfo, TaskStatus

__all__ = ["JournalWatcher"]

_CANCEL_POLL_S = 0.5
# A published task still queued at its deadline: first a moment for a start on its way (or
# a worker's clock apart), then its cancellation asked, then a moment for a worker's sweep
# to end it (a worker ends it at its claim, deadline_exceeded, never run).
_DEADLINE_GRACE_S = 1.0
_ENDED_WAIT_S = 5.0


class JournalWatcher:
    def __init__(self, *, journal: TaskStore, live: Mapping[str, object], recoverer: Recoverer,
                 cancel: Callable[[str], Awaitable[bool]]) -> None:
        self.journal = journal
        self.live = live
        self.recoverer = recoverer
        self.cancel = cancel

    async def poll_cancel_requests(self) -> None:
        """Cancellations asked through the journal (``skillexec tasks cancel`` elsewhere)."""
        orphans = self.recoverer.orphans
        while True:
            await asyncio.sleep(_CANCEL_POLL_S)
            if not self.live and not orphans:
                continue
            with contextlib.suppress(SkillExecError, OSError):
                for task_id in await self.journal.cancel_requests():
                    if task_id in self.live:
                        await self.cancel(task_id)
                    elif (orphan := orphans.get(task_id)) is not None:
                        await self.recoverer.end_orphan(orphan)  # its engine is gone

    async def wait_elsewhere(self, task_id: str, timeout: float | None, *,
                             deadline_at: float | None = None) -> ExecutionResult:
        """A task another engine owns, or one that ended: follow the shared journal until
        it ends (its first read also says whether the journal holds it at all).
        ``deadline_at``: when the call's deadline passes (a task this engine published):
        still queued then, nobody ran it, and it ends ``deadline_exceeded`` here."""
        if deadline_at is not None:
            first = max(0.0, deadline_at + _DEADLINE_GRACE_S - time.time())
            if timeout is None or timeout > first:
                began = time.monotonic()
                info = await self.journal.wait_finished(task_id, timeout_s=first)
                if info is not None and info.result is not None:
                    return info.result
                if timeout is not None:
                    timeout -= time.monotonic() - began
                if info is not None and info.status in (TaskStatus.PENDING,
                                                        TaskStatus.QUEUED):
                    return await self._never_started(info, timeout)
        info = await self.journal.wait_finished(task_id, timeout_s=timeout)
        if info is not None and info.result is not None:
            return info.result
        if info is None and await self.journal.get(task_id) is None:  # not a timeout
            raise TaskNotFoundError(f"no task with id {task_id!r}")
        raise WaitTimeoutError(f"task {task_id} did not finish within {timeout} s",
                               retryable=True)

    async def _never_started(self, info: TaskInfo, timeout: float | None) -> ExecutionResult:
        """A published task nobody started by its deadline: its cancellation asked through
        the journal (a worker's sweep, or its claim, ends it without running it); that
        end, or, with no worker to make it, the same verdict from here."""
        task_id = info.task_id
        with contextlib.suppress(SkillExecError, OSError):
            await self.journal.request_cancel(task_id)
        wait_s = _ENDED_WAIT_S if timeout is None else max(0.0, min(_ENDED_WAIT_S, timeout))
        ended = await self.journal.wait_finished(task_id, timeout_s=wait_s)
        if ended is not None and ended.result is not None:
            return ended.result
        return ExecutionResult(
            task_id, info.skill_id, info.skill_version, TaskStatus.TIMED_OUT,
            error=ErrorInfo(type=ErrorType.TIMEOUT, code="deadline_exceeded",
                            retryable=False,
                            message=f"no worker started task {task_id} within the call's "
                                    "deadline: it is not run (its cancellation is asked, and "
                                    "a worker that claims it ends it)"),
            created_at=info.created_at, finished_at=time.time())
