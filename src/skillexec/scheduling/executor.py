"""AsyncExecutor: worker slots over the TaskQueue.

A slot is held from the moment a task is accepted to run (or popped from the queue) until
its last attempt ends. There are no worker coroutines waiting on the queue: a task that
finds a free slot and an empty queue is started at once (by the caller, or in the caller's
own coroutine for ``execute()``), and each task that ends starts the next queued ones.

A :class:`Gate` (the ResourceManager) adds limits beside the global one: a task it holds
back waits, parked in the queue under the limit's key, and the tasks behind it go on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol

from skillexec.scheduling.queue import QueueBackend
from skillexec.task import ExecutionTask

__all__ = ["AsyncExecutor", "Gate"]

Run = Callable[[ExecutionTask], Coroutine[Any, Any, Any]]


class Gate(Protocol):
    gated: bool  # False: no limit can hold a task back (``blocked`` is not even asked)

    def blocked(self, task: ExecutionTask) -> str | None:
        """The key of the limit that holds this task back now, or None."""

    def enter(self, task: ExecutionTask) -> None:
        """The task took a slot (asked only while ``gated``)."""

    def leave(self, task: ExecutionTask) -> Iterable[str]:
        """The task gave its slot back: the keys of limits that may have opened."""


class AsyncExecutor:
    def __init__(self, queue: QueueBackend, *, max_concurrency: int, run: Run,
                 gate: Gate | None = None) -> None:
        self.queue = queue
        self.max_concurrency = max_concurrency
        self._run = run
        self.gate = gate
        self.slots = 0  # tasks holding a slot
        self.running: dict[str, asyncio.Task[Any]] = {}  # task id -> what runs it
        # Accepted tasks held outside the queue until their session's turn (a script
        # submitted in a session, see skillexec.pipeline.scripts): id -> its turn's holder.
        self.held: dict[str, asyncio.Task[Any]] = {}
        # Set when the engine's close cuts what still runs: from then on nothing starts (a
        # slot that frees up does not pop the queue), and what is queued stays queued in
        # the journal for the next engine (started then, it ran against a pipeline being
        # closed: a sync skill failed "cannot schedule new futures after shutdown").
        self.frozen = False

    def claim(self, task: ExecutionTask | None = None) -> bool:
        """Take a slot for a new task if one is free and nothing waits before it."""
        if self.slots < self.max_concurrency and not self.queue.ready and not self.frozen:
            gate = self.gate
            if gate is not None and task is not None and gate.gated:
                if gate.blocked(task) is not None:
                    return False
                gate.enter(task)
            self.slots += 1
            return True
        return False

    def unclaim(self, task: ExecutionTask | None = None) -> None:
        self.slots -= 1
        if self.gate is not None and task is not None and self.gate.gated:
            self._open(self.gate.leave(task))

    def start(self, task: ExecutionTask) -> None:
        """Run a task that holds a slot in a task of its own."""
        self.running[task.task_id] = asyncio.get_running_loop().create_task(self._run(task))

    def requeue(self, task: ExecutionTask) -> None:
        """Run an accepted task that waited outside the queue (a cache follower whose
        leader was cancelled): in a free slot now, else queued in its order (a full queue
        raises its ResourceError)."""
        if self.claim(task):
            self.start(task)
        else:
            self.queue.push(task)

    def adopt(self, task: ExecutionTask) -> None:
        """The task runs in the current coroutine (``execute()``'s fast path)."""
        current = asyncio.current_task()
        assert current is not None
        self.running[task.task_id] = current

    def adopted(self, task: ExecutionTask) -> ExecutionTask:
        """:meth:`adopt`, then the task."""
        self.adopt(task)
        return task

    def release(self, task: ExecutionTask) -> None:
        """A task ended: free its slot and start what waits."""
        self.slots -= 1
        self.running.pop(task.task_id, None)
        gate = self.gate
        if gate is not None and gate.gated:
            self._open(gate.leave(task))
        if len(self.queue):
            self.dispatch()

    def _open(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.queue.unpark(key)

    def reopen(self, keys: Iterable[str]) -> None:
        """Limits opened outside a release (pressure fell): start what they held back."""
        self._open(keys)
        if len(self.queue):
            self.dispatch()

    def dispatch(self) -> None:
        if self.frozen:
            return
        gate = self.gate
        blocked = gate.blocked if gate is not None and gate.gated else None
        while self.slots < self.max_concurrency:
            task = self.queue.pop(blocked)
            if task is None:
                return
            if blocked is not None:
                gate.enter(task)  # type: ignore[union-attr]
            self.slots += 1
            self.start(task)

    def unhold(self, task_id: str) -> bool:
        """Let go of a held task (it is being cancelled): its holder leaves the session's
        line. False if it is not held."""
        holder = self.held.pop(task_id, None)
        if holder is None:
            return False
        holder.cancel()
        return True

    @property
    def busy(self) -> bool:
        return bool(self.slots or len(self.queue) or self.held)

    async def drain(self, *, grace_s: float) -> None:
        """Wait up to ``grace_s`` for the queued and running tasks to finish."""
        deadline = time.monotonic() + grace_s
        while self.busy and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
