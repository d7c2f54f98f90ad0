"""LiveTasks: the tasks an engine holds now (queued or running), who waits for them, and
which of them it is cancelling; and how to hear of a task's end, here or elsewhere."""

from __future__ import annotations

import asyncio

from skillexec.errors import ResourceError, SkillNotFoundError
from skillexec.events import EventBus
from skillexec.pipeline.watcher import JournalWatcher
from skillexec.storage.store import TaskStore
from skillexec.task import ExecutionResult, ExecutionTask, TaskInfo

__all__ = ["LiveTasks"]


class LiveTasks:
    def __init__(self, *, journal: TaskStore, events: EventBus) -> None:
        self.journal = journal
        self.events = events
        self.live: dict[str, ExecutionTask] = {}
        self.waiters: dict[str, asyncio.Future[ExecutionResult]] = {}
        self.cancelling: set[str] = set()  # ids this engine is cancelling
        self.watcher: JournalWatcher | None = None  # for tasks another engine owns

    def ended(self, task: ExecutionTask, result: ExecutionResult) -> None:
        """Forget a task that ended; wake its waiter and subscribers."""
        task_id = task.task_id
        self.live.pop(task_id, None)
        event_log = self.events.log
        if event_log is not None and task_id in event_log.kept:
            event_log.ended(task_id)
        self.cancelling.discard(task_id)
        fut = self.waiters.pop(task_id, None)
        if fut is not None and not fut.done():
            fut.set_result(result)
        self.events.status(task)

    async def wait(self, task_id: str, timeout: float | None = None) -> ExecutionResult:
        fut = self.waiters.get(task_id)
        if fut is None:
            if task_id in self.live:
                fut = self.waiters[task_id] = asyncio.get_running_loop().create_future()
            else:
                info = await self.journal.get(task_id)
                if info is None:
                    raise SkillNotFoundError(f"no task with id {task_id!r}",
                                             code="task_not_found")
                if info.result is not None:
                    return info.result
                assert self.watcher is not None  # set by the engine
                return await self.watcher.wait_elsewhere(task_id, timeout)
        if timeout is None:
            return await asyncio.shield(fut)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            raise ResourceError(f"task {task_id} did not finish within {timeout} s",
                                code="wait_timeout", retryable=True) from None

    async def status(self, task_id: str) -> TaskInfo:
        task = self.live.get(task_id)
        if task is not None:
            return TaskInfo(task_id=task_id, skill_id=task.request.skill_id,
                            skill_version=task.request.skill_version, status=task.status,
                            priority=task.request.priority, attempts=task.attempts,
                            created_at=task.request.created_at, started_at=task.started_at,
                            principal=task.request.principal)
        info = await self.journal.get(task_id)
        if info is None:
            raise SkillNotFoundError(f"no task with id {task_id!r}", code="task_not_found")
        return info
