"""Deadlines: when the timed waits for a task's end give up, on one loop timer.

A wait with a timeout (the HTTP execute route's, on every call) used to arm a loop timer of
its own and cancel it when the task ended first, as almost every one does: a TimerHandle,
its place in the loop's heap (compared in Python) and its cancellation, per call. Here a
wait is a (deadline, seq, future) entry pushed on a heap of plain tuples (compared in C),
and one loop timer stands for the earliest of them: when it fires, every wait due is woken
and the timer is armed again for the next.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from typing import Any

__all__ = ["Deadlines"]

# The loop runs a timer due within its clock's resolution: so do we, or a wait woken a
# hair early would find itself not yet due and the timer would have to be armed again.
_RESOLUTION_S = time.get_clock_info("monotonic").resolution
# Ended waits stay on the heap until their deadline; past this many (and half the heap),
# they are swept out at once, so a long timeout does not keep every call's future alive.
_SWEEP_AFTER = 256


class Deadlines:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._heap: list[tuple[float, int, asyncio.Future[Any]]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at_s = math.inf
        self._ended = 0  # entries on the heap whose wait ended before its deadline

    def add(self, timeout_s: float, woken: asyncio.Future[Any]) -> None:
        """Wake ``woken`` (unless done by then) ``timeout_s`` from now (finite, > 0)."""
        when = self.loop.time() + timeout_s
        heapq.heappush(self._heap, (when, next(self._seq), woken))
        if when < self._armed_at_s:
            self._arm(when)

    def ended(self) -> None:
        """A wait added here ended before its deadline (its future is done)."""
        self._ended += 1
        heap = self._heap
        if self._ended >= _SWEEP_AFTER and 2 * self._ended >= len(heap):
            heap[:] = [e for e in heap if not e[2].done()]
            heapq.heapify(heap)
            self._ended = 0

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(when, self._fire)
        self._armed_at_s = when

    def _fire(self) -> None:
        self._timer, self._armed_at_s = None, math.inf
        heap = self._heap
        due = self.loop.time() + _RESOLUTION_S
        while heap and heap[0][0] <= due:
            woken = heapq.heappop(heap)[2]
            if not woken.done():
                woken.set_result(None)
            elif self._ended:
                self._ended -= 1
        if heap:
            self._arm(heap[0][0])
