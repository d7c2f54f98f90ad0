"""AsyncExecutor: worker slots over the TaskQueue.

A slot is held from the moment a task is accepted to run (or popped from the queue) until
its last attempt ends. There are no worker coroutines waiting on the queue: a task that
finds a free slot and an empty queue is started at once (by the caller, or in the caller's
own coroutine for ``execute()``), and each task that ends starts the next queued ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from skillexec.scheduling.queue import QueueBackend
from skillexec.task import ExecutionTask

__all__ = ["AsyncExecutor"]

Run = Callable[[ExecutionTask], Coroutine[Any, Any, Any]]


class AsyncExecutor:
    def __init__(self, queue: QueueBackend, *, max_concurrency: int, run: Run) -> None:
        self.queue = queue
        self.max_concurrency = max_concurrency
        self._run = run
        self.slots = 0  # tasks holding a slot
        self.running: dict[str, asyncio.Task[Any]] = {}  # task id -> what runs it

    def claim(self) -> bool:
        """Take a slot for a new task if one is free and nothing waits before it."""
        if self.slots < self.max_concurrency and not len(self.queue):
            self.slots += 1
            return True
        return False

    def unclaim(self) -> None:
        self.slots -= 1

    def start(self, task: ExecutionTask) -> None:
        """Run a task that holds a slot in a task of its own."""
        self.running[task.task_id] = asyncio.get_running_loop().create_task(self._run(task))

    def adopt(self, task: ExecutionTask) -> None:
        """The task runs in the current coroutine (``execute()``'s fast path)."""
        current = asyncio.current_task()
        assert current is not None
        self.running[task.task_id] = current

    def release(self, task: ExecutionTask) -> None:
        """A task ended: free its slot and start what waits."""
        self.slots -= 1
        self.running.pop(task.task_id, None)
        if len(self.queue):
            self.dispatch()

    def dispatch(self) -> None:
        while self.slots < self.max_concurrency:
            task = self.queue.pop()
            if task is None:
                return
            self.slots += 1
            self.start(task)

    @property
    def busy(self) -> bool:
        return bool(self.slots or len(self.queue))
