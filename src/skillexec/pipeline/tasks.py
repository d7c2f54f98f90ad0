"""LiveTasks: the tasks an engine holds now (queued or running), who waits for them, and
which of them it is cancelling; and how to hear of a task's end, here or elsewhere."""

from __future__ import annotations

import asyncio
import math

from skillexec.errors import TaskNotFoundError, WaitTimeoutError
from skillexec.events import EventBus
from skillexec.pipeline.deadlines import Deadlines
from skillexec.pipeline.watcher import JournalWatcher
from skillexec.storage.store import TaskStore
from skillexec.task import ExecutionResult, ExecutionTask, TaskInfo

__all__ = ["HandedBack", "LiveTasks"]


class HandedBack(Exception):
    """A claimed task given back before its skill started here (a distributed worker):
    not ended, another claim runs it."""


class LiveTasks:
    def __init__(self, *, journal: TaskStore, events: EventBus) -> None:
        self.journal = journal
        self.events = events
        self.live: dict[str, ExecutionTask] = {}
        self.waiters: dict[str, list[asyncio.Future[ExecutionResult | None]]] = {}
        self.cancelling: set[str] = set()  # ids this engine is cancelling
        # Distributed: ids this engine published for a worker to run, until their end is
        # seen here (what an interrupted command cancels too; the oldest go past a bound),
        # and when each one's deadline passes (epoch seconds; None: it has none).
        self.published: dict[str, float | None] = {}
        self.watcher: JournalWatcher | None = None  # for tasks another engine owns
        self._deadlines: Deadlines | None = None  # when timed waits give up

    def ended(self, task: ExecutionTask, result: ExecutionResult) -> None:
        """Forget a task that ended; wake its waiters and subscribers."""
        task_id = task.task_id
        self.live.pop(task_id, None)
        event_log = self.events.log
        if event_log is not None and task_id in event_log.kept:
            event_log.ended(task_id)
        self.cancelling.discard(task_id)
        for woken in self.waiters.pop(task_id, ()):
            if not woken.done():  # else it gave up (a timeout) or was cancelled
                woken.set_result(result)
        self.events.status(task)

    def handed_back(self, task_id: str) -> None:
        """Forget a claimed task given back unstarted: its waiters here hear ``HandedBack``
        (``wait`` follows it elsewhere for all but the claim's own)."""
        self.live.pop(task_id, None)
        self.cancelling.discard(task_id)
        for woken in self.waiters.pop(task_id, ()):
            if not woken.done():
                woken.set_exception(HandedBack(task_id))

    async def wait(self, task_id: str, timeout: float | None = None, *,
                   here: bool = False) -> ExecutionResult:
        """The task's result; each waiter has a future of its own, woken by ended() or by
        its deadline (so that a waiter giving up, or cancelled, cancels nobody else's).
        ``here``: raise ``HandedBack`` if the task is given back, not follow it."""
        try:
            return await self._wait(task_id, timeout)
        except HandedBack:
            if here:
                raise
            return await self._wait(task_id, timeout)  # now another node's to run

    async def _wait(self, task_id: str, timeout: float | None) -> ExecutionResult:
        if task_id not in self.live:  # ended, or another engine's (a distributed worker's)
            assert self.watcher is not None  # set by the engine
            ended = await self.watcher.wait_elsewhere(
                task_id, timeout, deadline_at=self.published.get(task_id))
            self.published.pop(task_id, None)  # its end is seen
            return ended
        if timeout is not None and timeout <= 0:
            raise _timed_out(task_id, timeout)
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[ExecutionResult | None] = loop.create_future()
        waiting = self.waiters.get(task_id)
        if waiting is None:
            self.waiters[task_id] = [woken]
        else:
            waiting.append(woken)
        try:
            result = await _outcome(woken, timeout, self._deadlines_of(loop))
        except BaseException:  # cancelled: a long task must not keep every waiter gone
            self._forget(task_id, woken)
            raise
        if result is None:
            self._forget(task_id, woken)
            raise _timed_out(task_id, timeout)
        return result

    def _forget(self, task_id: str, woken: asyncio.Future[ExecutionResult | None]) -> None:
        waiting = self.waiters.get(task_id)
        if waiting is not None and woken in waiting:
            waiting.remove(woken)
            if not waiting:
                del self.waiters[task_id]

    def _deadlines_of(self, loop: asyncio.AbstractEventLoop) -> Deadlines:
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:  # an engine used on a new loop
            deadlines = self._deadlines = Deadlines(loop)
        return deadlines

    async def status(self, task_id: str) -> TaskInfo:
        task = self.live.get(task_id)
        if task is not None:
            # Ended, its end not journaled yet: the result it ended with, as the journal
            # will answer (an ended status alone told a poller to stop, with nothing).
            result = task.result
            return TaskInfo(task_id=task_id, skill_id=task.request.skill_id,
                            skill_version=task.request.skill_version, status=task.status,
                            priority=task.request.priority, attempts=task.attempts,
                            created_at=task.request.created_at, started_at=task.started_at,
                            finished_at=None if result is None else result.finished_at,
                            result=result, principal=task.request.principal)
        info = await self.journal.get(task_id)
        if info is None:
            raise TaskNotFoundError(f"no task with id {task_id!r}")
        return info


async def _outcome(woken: asyncio.Future[ExecutionResult | None], timeout: float | None,
                   deadlines: Deadlines) -> ExecutionResult | None:
    """What ``woken`` is given: the result, or None once ``timeout`` (None: no limit) has
    passed. A finite timeout is an entry on the shared deadlines' heap, not a timer of its
    own (NaN and inf keep the loop's timer, and with it what the loop does with them)."""
    timer = None
    on_heap = False
    if timeout is not None:
        if timeout < math.inf:
            deadlines.add(timeout, woken)
            on_heap = True
        else:
            timer = asyncio.get_running_loop().call_later(timeout, _wake, woken)
    try:
        result = await woken
    except BaseException:
        if on_heap:
            deadlines.ended()  # cancelled before its deadline: its entry is swept like any
        raise
    finally:
        if timer is not None:
            timer.cancel()
    if on_heap and result is not None:
        deadlines.ended()
    return result


def _wake(woken: asyncio.Future[ExecutionResult | None]) -> None:
    if not woken.done():
        woken.set_result(None)


def _timed_out(task_id: str, timeout: float | None) -> WaitTimeoutError:
    return WaitTimeoutError(f"task {task_id} did not finish within {timeout} s",
                            retryable=True)
