"""Cancellation: ending a queued or running task early, one or all of them."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from skillexec.errors import CancelledError, SkillExecError, TaskNotFoundError
from skillexec.pipeline.recovery import Recoverer, cancelled_info
from skillexec.pipeline.tasks import LiveTasks
from skillexec.runtime.runners.base import Outcome
from skillexec.scheduling.executor import AsyncExecutor
from skillexec.scheduling.queue import TaskQueue
from skillexec.storage.store import TaskStore
from skillexec.task import ExecutionResult, ExecutionTask, TaskStatus

__all__ = ["Cancellation", "closed_error"]

_REMOTE_END_S = 5.0  # an interrupted command waits this long for published tasks to end
# How long close() waits for the tasks it cut short to unwind: a runner stops its work
# before it lets a cancellation through, and an inline coroutine that ignores it is let go
# of after a grace of its own (runtime.runners.abandoning); this bounds what is left.
_CUT_WAIT_S = 5.0


def closed_error(task_id: str) -> CancelledError:
    """What a caller hears of a task the engine's close left unfinished."""
    return CancelledError(
        f"the engine closed before task {task_id} ended; the journal keeps it, and the next "
        "engine on this data directory resumes it", code="engine_closed",
        details={"task_id": task_id})


class Cancellation:
    def __init__(self, *, tasks: LiveTasks, queue: TaskQueue, executor: AsyncExecutor,
                 contexts: dict[str, Any], recoverer: Recoverer, journal: TaskStore,
                 finish: Callable[..., Awaitable[ExecutionResult]]) -> None:
        self.tasks = tasks
        self.queue = queue
        self.executor = executor
        self.contexts = contexts  # task id -> its running attempt's SkillContext
        self.recoverer = recoverer
        self.journal = journal
        self.finish = finish
        self.cut_short: set[asyncio.Task[Any]] = set()  # the tasks the engine's close cancelled
        # Takes a cache follower out of its flight (the ResultCache's, bound by the engine):
        # False if the task follows none.
        self.unfollow: Callable[[str], bool] = lambda _: False

    def cutting(self) -> set[asyncio.Task[Any]]:
        """The running tasks the engine's close is about to cancel (remembered: some are
        ``execute()`` callers' own coroutines, see :meth:`caller_cancelled`)."""
        self.cut_short = set(self.executor.running.values())
        return self.cut_short

    def caller_cancelled(self, task: ExecutionTask, exc: asyncio.CancelledError,
                         closing: bool, spawn: Callable[[Coroutine[Any, Any, Any]], None],
                         ) -> BaseException:
        """What ``execute()``'s caller raises for the CancelledError it got. ``exc`` when the
        caller was cancelled (its own or its app's doing): so is its task, also when it
        waited in the queue, rather than it running for nobody later. Else the engine's
        close cut the call short (it cancels the caller's own coroutine when the task ran
        in it), which the app did not ask for: an error saying so; the journal keeps it."""
        me = asyncio.current_task()
        ours = me is not None and me in self.cut_short
        if not closing or me is None or me.cancelling() != int(ours):
            if not task.claimed:  # queued (one that ran in the caller's coroutine is ended)
                spawn(self.cancel(task.task_id))
            return exc
        if ours:
            me.uncancel()
        return closed_error(task.task_id)

    async def cut(self, background: set[asyncio.Task[Any]]) -> None:
        """The end of close's grace. Nothing starts any more (the queue stays as it is in
        the journal), what runs and the background jobs are cancelled and waited for (up
        to ``_CUT_WAIT_S``), and whoever still waits for a task that did not end (an
        ``execute`` or ``wait`` caller, a queued task's too) hears ``engine_closed``
        instead of waiting for ever."""
        self.executor.frozen = True
        me = asyncio.current_task()
        ending = {t for t in (*self.cutting(), *background) if t is not me}
        for t in ending:
            t.cancel()
        if ending:
            done, _ = await asyncio.wait(ending, timeout=_CUT_WAIT_S)
            for t in done:
                if not t.cancelled():
                    t.exception()  # retrieved: its caller, if any, has it too
        waiters = self.tasks.waiters
        for task_id, waiting in list(waiters.items()):
            for woken in waiting:
                if not woken.done():
                    woken.set_exception(closed_error(task_id))
        waiters.clear()

    async def cancel(self, task_id: str, *, wait_s: float = 0.0) -> bool:
        """Cancel a queued or running task. False if it had already finished; a
        TaskNotFoundError if there is no such task. ``wait_s``: return once it has ended
        (within that long; then the cancellation goes on), so that its status says so and
        a second cancel answers False, as for any task that ended."""
        task = self.tasks.live.get(task_id)
        if task is None:
            orphan = self.recoverer.orphans.get(task_id)
            if orphan is not None:  # left by a stopped engine; nobody else will end it
                await self.recoverer.end_orphan(orphan)
                return True
            if await self.journal.request_cancel(task_id):  # another engine's, maybe
                return True
            if await self.journal.get(task_id) is None:
                raise TaskNotFoundError(f"no task with id {task_id!r}")
            return False
        cancelling = self.tasks.cancelling
        if task.status.terminal:
            return False
        if task_id not in cancelling:
            if (self.queue.discard(task_id) or self.executor.unhold(task_id)
                    or self.unfollow(task_id)):
                await self.finish(task, Outcome(error=cancelled_info()),
                                  status=TaskStatus.CANCELLED)
                return True
            cancelling.add(task_id)
            ctx = self.contexts.get(task_id)
            if ctx is not None:
                ctx.cancel()
            runner_task = self.executor.running.get(task_id)
            # A task whose coroutine has not begun yet is left to begin: cancelled now, it
            # would never enter the attempt loop that ends it (nor free its slot). The loop
            # sees it in ``cancelling`` before its first attempt and ends it cancelled.
            if runner_task is not None and not _unbegun(runner_task):
                runner_task.cancel()
        # (not from the task's own run, which cannot end while it waits here)
        if wait_s > 0 and self.executor.running.get(task_id) is not asyncio.current_task():
            with contextlib.suppress(SkillExecError):  # WaitTimeoutError: it goes on
                await self.tasks.wait(task_id, wait_s)
        return True

    async def cancel_all(self, *, grace_s: float = 0.0) -> list[str]:
        """Cancel every queued task now, give running ones ``grace_s`` to finish, then cancel
        them; return once every one of them has its end in the journal. In distributed mode
        the tasks this engine published are asked to cancel through the journal after the
        same grace (their ends waited for ``_REMOTE_END_S`` at most: one still queued with
        no worker to end it keeps the request for the worker that claims it).

        What an interrupted CLI command does (Ctrl-C, SIGTERM), so that nothing it accepted
        is left ``running`` for another command to find. A second interruption (the caller
        cancelled again) ends the grace at once; the ends are still written."""
        live = self.tasks.live
        ids = list(live)
        # Distributed: what this engine published runs on workers; its cancellation goes
        # through the journal, as engine.cancel's does (a worker sees it within 0.5 s).
        remote = [t for t in self.tasks.published if t not in live]
        for task_id in ids:
            task = live.get(task_id)
            if task is not None and task.status in (TaskStatus.PENDING, TaskStatus.QUEUED):
                await self.cancel(task_id)
        waits: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(self.tasks.wait(t)) for t in ids if t in live]
        elsewhere: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(self.journal.wait_finished(t, timeout_s=None))
            for t in remote]
        if (waits or elsewhere) and grace_s > 0:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait(waits + elsewhere, timeout=grace_s)
        for task_id in list(live):
            await self.cancel(task_id)
        for task_id, end in zip(remote, elsewhere, strict=True):
            if not end.done():
                await self.journal.request_cancel(task_id)
        if waits:
            ends = asyncio.gather(*waits, return_exceptions=True)
            # Shielded: a further interruption must not leave a task without its end.
            while not ends.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(ends)
        await _ended_elsewhere(elsewhere)
        return ids + remote


async def _ended_elsewhere(ends: list[asyncio.Future[Any]]) -> None:
    """Wait (a while: a queued task may have no worker to end it yet, and then its
    cancellation stays asked in the journal for the worker that claims it) for the ends of
    published tasks whose cancellation was asked."""
    pending = [e for e in ends if not e.done()]
    if pending:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait(pending, timeout=_REMOTE_END_S)
    for e in ends:
        e.cancel()
        if e.done() and not e.cancelled():
            e.exception()  # retrieved: a journal error here is not worth a warning


def _unbegun(task: asyncio.Task[Any]) -> bool:
    coro = task.get_coro()
    return inspect.iscoroutine(coro) and \
        inspect.getcoroutinestate(coro) == inspect.CORO_CREATED
