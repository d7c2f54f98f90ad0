"""Cancellation: ending a queued or running task early, one or all of them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from skillexec.pipeline.recovery import Recoverer, cancelled_info
from skillexec.pipeline.tasks import LiveTasks
from skillexec.runtime.runners.base import Outcome
from skillexec.scheduling.executor import AsyncExecutor
from skillexec.scheduling.queue import TaskQueue
from skillexec.storage.store import TaskStore
from skillexec.task import ExecutionResult, TaskStatus

__all__ = ["Cancellation"]


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

    async def cancel(self, task_id: str) -> bool:
        """Cancel a queued or running task. False if it had already finished."""
        task = self.tasks.live.get(task_id)
        if task is None:
            orphan = self.recoverer.orphans.get(task_id)
            if orphan is not None:  # left by a stopped engine; nobody else will end it
                await self.recoverer.end_orphan(orphan)
                return True
            return await self.journal.request_cancel(task_id)  # another engine's, maybe
        cancelling = self.tasks.cancelling
        if task.status.terminal or task_id in cancelling:
            return not task.status.terminal
        if self.queue.discard(task_id):
            await self.finish(task, Outcome(error=cancelled_info()),
                              status=TaskStatus.CANCELLED)
            return True
        cancelling.add(task_id)
        ctx = self.contexts.get(task_id)
        if ctx is not None:
            ctx.cancel()
        runner_task = self.executor.running.get(task_id)
        if runner_task is not None:
            runner_task.cancel()
        return True

    async def cancel_all(self, *, grace_s: float = 0.0) -> list[str]:
        """Cancel every queued task now, give running ones ``grace_s`` to finish, then cancel
        them; return once every one of them has its end in the journal.

        What an interrupted CLI command does (Ctrl-C, SIGTERM), so that nothing it accepted
        is left ``running`` for another command to find. A second interruption (the caller
        cancelled again) ends the grace at once; the ends are still written."""
        live = self.tasks.live
        ids = list(live)
        for task_id in ids:
            task = live.get(task_id)
            if task is not None and task.status in (TaskStatus.PENDING, TaskStatus.QUEUED):
                await self.cancel(task_id)
        waits = [asyncio.ensure_future(self.tasks.wait(t)) for t in ids if t in live]
        if waits and grace_s > 0:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait(waits, timeout=grace_s)
        for task_id in list(live):
            await self.cancel(task_id)
        if waits:
            ends = asyncio.gather(*waits, return_exceptions=True)
            # Shielded: a further interruption must not leave a task without its end.
            while not ends.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(ends)
        return ids
