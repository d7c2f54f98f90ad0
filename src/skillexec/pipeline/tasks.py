"""LiveTasks: the tasks an engine holds now (queued or running), who waits for them, and
which of them it is cancelling; and how to hear of a task's end, here or elsewhere."""

from __future__ import annotations

import asyncio
import math

from skillexec.errors import ResourceError, SkillNotFoundError
from skillexec.events import EventBus
from skillexec.pipeline.deadlines import Deadlines
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
        self._deadlines: Deadlines | None = None  # when timed waits give up

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
            else:  # ended, or another engine's (a distributed worker's): the journal's
                assert self.watcher is not None  # set by the engine
                return await self.watcher.wait_elsewhere(task_id, timeout)
        try:
            return await _outcome(fut, timeout, self._deadlines_of(fut.get_loop()))
        except TimeoutError:
            raise ResourceError(f"task {task_id} did not finish within {timeout} s",
                                code="wait_timeout", retryable=True) from None

    def _deadlines_of(self, loop: asyncio.AbstractEventLoop) -> Deadlines:
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:  # an engine used on a new loop
            deadlines = self._deadlines = Deadlines(loop)
        return deadlines

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


async def _outcome(fut: asyncio.Future[ExecutionResult], timeout: float | None,
                   deadlines: Deadlines) -> ExecutionResult:
    """``fut``'s result within ``timeout`` (None: no limit; TimeoutError after), never
    cancelling ``fut`` (other callers wait on it too) when this caller gives up or is
    cancelled: what ``wait_for(shield(fut))`` does, without the two futures, the task and
    the callbacks those make per waiting request (the HTTP execute route's hot path)."""
    if fut.done():
        return fut.result()
    if timeout is not None and timeout <= 0:
        raise TimeoutError
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not woken.done():
            woken.set_result(None)

    fut.add_done_callback(wake)
    # A finite timeout is an entry on the shared deadlines' heap, not a timer of its own
    # (NaN and inf keep the loop's timer, and with it what the loop does with them).
    shared, timer = False, None
    if timeout is not None:
        if timeout < math.inf:
            shared = True
            deadlines.add(timeout, woken)
        else:
            timer = loop.call_later(timeout, wake)
    try:
        await woken
    finally:
        fut.remove_done_callback(wake)
        if timer is not None:
            timer.cancel()
        elif shared and fut.done():
            deadlines.ended()
    if not fut.done():
        raise TimeoutError
    return fut.result()
