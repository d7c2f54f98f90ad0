"""The inline runner's deadlines for async skills: every running coroutine's, one timer.

``asyncio.timeout`` arms and cancels a timer per call, which at thousands of calls a second
is a large share of the engine's overhead. Here a call pushes its deadline on a heap; the
one timer is re-armed only when a deadline earlier than the armed one arrives, and when it
fires it cancels every task past its deadline (the caller turns that cancellation into a
timeout, as ``asyncio.timeout`` does).

The heap holds plain ``(deadline, seq, watch)`` tuples, compared in C (an object's Python
``__lt__`` cost a call per comparison, on every push). A call that returns in time leaves
its entry behind (removing it from the middle of a heap costs more than it saves); past
``_SWEEP_AFTER`` such entries, and half the heap, they are swept out at once. Before, they
stayed until the timer fired at the earliest deadline — a default timeout later, some
hundred thousand entries at a busy service's rate, all popped in one callback on the loop.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from typing import Any

__all__ = ["Watch", "Watchdog"]

_SWEEP_AFTER = 256


class Watch:
    """One call's deadline: ``expired`` once the watchdog cancelled its task for it."""

    __slots__ = ("expired", "task")

    def __init__(self, task: asyncio.Task[Any] | None) -> None:
        self.task = task
        self.expired = False


class Watchdog:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._heap: list[tuple[float, int, Watch]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = math.inf
        self._ended = 0  # entries on the heap whose call ended before its deadline

    def watch(self, timeout_s: float) -> Watch:
        """Cancel the current task ``timeout_s`` from now, unless :meth:`ended` first."""
        w = Watch(asyncio.current_task())
        when = self.loop.time() + timeout_s
        heapq.heappush(self._heap, (when, next(self._seq), w))
        if when < self._armed_at:
            self._arm(when)
        return w

    def ended(self, w: Watch) -> None:
        """The watched call is over (returned, failed, cancelled or expired)."""
        w.task = None
        if w.expired:  # popped when it expired: not on the heap any more
            return
        self._ended += 1
        heap = self._heap
        if self._ended >= _SWEEP_AFTER and 2 * self._ended >= len(heap):
            heap[:] = [e for e in heap if e[2].task is not None]
            heapq.heapify(heap)
            self._ended = 0  # the timer may now fire early: it finds nothing and re-arms

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = when
        self._handle = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = math.inf
        now = self.loop.time()
        heap = self._heap
        while heap and (heap[0][0] <= now or heap[0][2].task is None):
            w = heapq.heappop(heap)[2]
            if w.task is not None:
                w.expired = True
                w.task.cancel()
            elif self._ended:
                self._ended -= 1
        if heap:
            self._arm(heap[0][0])
