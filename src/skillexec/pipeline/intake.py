"""Intake: the last step of accepting a call. An admitted task goes into the journal and
then to a worker slot or the queue; a refused one is journaled ``rejected`` at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from skillexec.errors import ResourceError, SkillExecError
from skillexec.events import EventBus
from skillexec.pipeline.access import Access
from skillexec.pipeline.admission import Admission
from skillexec.pipeline.recovery import cancelled_info
from skillexec.pipeline.remote import RemoteEnqueue
from skillexec.request import CallOptions
from skillexec.runtime.runners.base import Outcome
from skillexec.scheduling.executor import AsyncExecutor
from skillexec.scheduling.queue import QueueBackend
from skillexec.storage.store import TaskStore
from skillexec.task import ExecutionResult, ExecutionTask, TaskStatus

__all__ = ["Intake"]

Finish = Callable[..., Awaitable[ExecutionResult]]
Accepted = tuple[ExecutionTask, ExecutionResult | None]


class Intake:
    def __init__(self, *, journal: TaskStore, live: dict[str, ExecutionTask],
                 queue: QueueBackend, executor: AsyncExecutor, access: Access,
                 events: EventBus, remote: RemoteEnqueue | None, admission: Admission,
                 finish: Finish, cancel: Callable[[str], Awaitable[bool]]) -> None:
        self.journal = journal
        self.live = live
        self.queue = queue
        self.executor = executor
        self.access = access
        self.events = events
        self.remote = remote
        self.admission = admission
        self.finish = finish
        self.cancel = cancel

    async def enqueue(self, task: ExecutionTask, opts: CallOptions) -> Accepted:
        """Journal an admitted task; it holds a slot (``task.claimed``) or waits queued."""
        if self.remote is not None:  # distributed: published, a worker runs it
            return await self.remote.enqueue(task, waits=opts.waits)
        task_id = task.task_id
        self.live[task_id] = task
        task.queued_mono = time.monotonic()
        if not opts.held and self.executor.claim(task):
            # Free capacity: accepted and started in one journal write.
            task.claimed = True
            task.status = TaskStatus.RUNNING
            task.attempts = 1
            task.started_at = task.request.created_at
        else:
            task.status = TaskStatus.QUEUED
            try:
                if not opts.held:  # held: queued at its session's turn (pipeline.scripts)
                    self.queue.push(task)
            except ResourceError as exc:
                self.live.pop(task_id, None)
                return await self.reject(task_id, task.skill_id, task.skill_version, exc,
                                         opts)
        self.access.submitted(task)  # audited in the same group commit as the task's row
        try:
            await self.journal.queued(task)  # durable before the caller hears of it
        except asyncio.CancelledError:
            await self._gave_up(task)
            raise
        except BaseException:
            self.live.pop(task_id, None)
            if task.claimed:
                self.executor.unclaim(task)
            else:
                self.queue.discard(task_id)
            raise
        if task.status is TaskStatus.QUEUED:
            self.executor.dispatch()  # a free slot that limits kept from the queue's head
        self.events.status(task)
        return task, None

    async def _gave_up(self, task: ExecutionTask) -> None:
        """The caller was cancelled while its task's row was being written. The write goes
        on regardless (it is in the journal's group commit), so the task is accepted, and
        is ended ``cancelled`` at once, its end written after its row: left as it was, the
        row stayed queued or running for ever and the next engine ran the call for nobody.
        The caller still gets its CancelledError (once the end is written)."""
        if task.claimed:  # holds a slot, not started: nobody else will end it
            task.claimed = False
            self.executor.unclaim(task)
            await self.finish(task, Outcome(error=cancelled_info()),
                              status=TaskStatus.CANCELLED)
        else:  # queued, or already started by dispatch() meanwhile: as any cancel
            await self.cancel(task.task_id)

    async def reject(self, task_id: str, skill_id: str, version: str | None,
                     exc: SkillExecError, opts: CallOptions,
                     ) -> tuple[ExecutionTask, ExecutionResult]:
        """Journal a refused request as a task that ends ``rejected`` with the reason."""
        task = self.admission.refused(task_id, skill_id, version, opts.priority,
                                      opts.principal)
        self.live[task_id] = task
        # The journal keeps refusals too. Not awaited: the insert and the end written by
        # finish go out in one group commit, so a refusal (e.g. an open circuit) answers
        # after one journal round instead of two.
        recorded = self.journal.queued(task)
        result = await self.finish(task, Outcome(error=exc.info), status=TaskStatus.REJECTED)
        if isinstance(recorded, asyncio.Future) and recorded.done() and recorded.exception():
            raise recorded.exception()  # type: ignore[misc]  # (not a task id no one finds)
        return task, result
