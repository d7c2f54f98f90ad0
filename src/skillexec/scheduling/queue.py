"""TaskQueue: priority order with aging, FIFO within a priority, bounded.

Aging that grows every waiting task's priority at the same linear rate needs no timer: task
a goes before task b when ``pa + (now - ta)/T > pb + (now - tb)/T``, and ``now`` cancels
out, so the order is fixed at push time by the key ``t - p*T`` (a virtual arrival time). A
priority-0 task therefore waits at most ``9*T`` behind any stream of priority-9 work.

Shortest-first within a priority uses the same trick: a task may be put back by
``task.order_s`` seconds of virtual arrival (the SmartExecutor sets it from the predicted
duration, capped), so a call expected to be long lets shorter ones that arrive within that
bound go first, and is never passed by anything that arrived later than that.

Bulkheads: ``pop(blocked)`` skips a task whose limit is reached (its skill's concurrency,
its principal's, system pressure) and *parks* it under that limit's key, in order; when the
limit opens, ``unpark(key)`` puts those tasks back with their original keys. A skill at its
limit therefore never blocks the tasks of other skills behind it, and keeps its place.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Mapping
from typing import Protocol

from skillexec.errors import ResourceError
from skillexec.task import ExecutionTask

__all__ = ["QueueBackend", "TaskQueue"]


class QueueBackend(Protocol):
    """Where accepted tasks wait for a worker slot."""

    def push(self, task: ExecutionTask) -> None: ...

    def pop(self, blocked: Callable[[ExecutionTask], str | None] | None = None
            ) -> ExecutionTask | None: ...

    def unpark(self, key: str) -> int: ...

    @property
    def ready(self) -> int: ...

    def discard(self, task_id: str) -> bool: ...

    def __len__(self) -> int: ...

    def depth_by_priority(self) -> dict[int, int]: ...


class TaskQueue:
    def __init__(self, *, capacity: int, aging_s: float,
                 capacity_by_priority: Mapping[int, int] | None = None) -> None:
        self.capacity = capacity
        self.aging_s = aging_s
        caps = capacity_by_priority or {}
        self._caps = [caps.get(p) for p in range(10)] if caps else None
        # entry: [virtual arrival, seq, task (None once discarded), parked-under key]
        self._heap: list[list[object]] = []
        self._entries: dict[str, list[object]] = {}
        self._parked: dict[str, list[list[object]]] = {}
        self._n_parked = 0
        self._seq = itertools.count()
        self._depth = [0] * 10

    def push(self, task: ExecutionTask) -> None:
        if len(self._entries) >= self.capacity:
            raise ResourceError(
                f"the queue is full ({self.capacity} tasks waiting); try again later",
                code="queue_full", retryable=True,
                details={"capacity": self.capacity},
            )
        if self._caps is not None:
            cap = self._caps[task.priority]
            if cap is not None and self._depth[task.priority] >= cap:
                raise ResourceError(
                    f"the queue for priority {task.priority} is full ({cap} tasks waiting); "
                    "try again later", code="queue_full", retryable=True,
                    details={"capacity": cap, "priority": task.priority})
        prio = task.request.priority  # the request's field, not the task's property: hot
        entry: list[object] = [task.queued_mono - prio * self.aging_s + task.order_s,
                               next(self._seq), task, None]
        self._entries[task.task_id] = entry
        self._depth[prio] += 1
        heapq.heappush(self._heap, entry)

    def pop(self, blocked: Callable[[ExecutionTask], str | None] | None = None
            ) -> ExecutionTask | None:
        """The first task in order that ``blocked`` does not hold back (parking those)."""
        heap = self._heap
        while heap:
            entry = heapq.heappop(heap)
            task = entry[2]
            if task is None:
                continue
            assert isinstance(task, ExecutionTask)
            if blocked is not None:
                key = blocked(task)
                if key is not None:
                    entry[3] = key
                    # Popped in order, so appending keeps each parked list sorted.
                    self._parked.setdefault(key, []).append(entry)
                    self._n_parked += 1
                    continue
            del self._entries[task.task_id]
            self._depth[task.priority] -= 1
            return task
        return None

    def unpark(self, key: str) -> int:
        """The limit ``key`` opened: its tasks take their places again. Returns how many."""
        entries = self._parked.pop(key, None)
        if not entries:
            return 0
        n = 0
        heap = self._heap
        for entry in entries:
            entry[3] = None
            if entry[2] is not None:
                n += 1
                heapq.heappush(heap, entry)
        self._n_parked -= n
        return n

    def discard(self, task_id: str) -> bool:
        entry = self._entries.pop(task_id, None)
        if entry is None:
            return False
        task = entry[2]
        assert isinstance(task, ExecutionTask)
        self._depth[task.priority] -= 1
        if entry[3] is not None:
            self._n_parked -= 1
        entry[2] = None  # removed lazily when it reaches the top of the heap (or unparked)
        return True

    @property
    def ready(self) -> int:
        """Tasks waiting that no known limit holds back."""
        return len(self._entries) - self._n_parked

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, task_id: str) -> bool:
        return task_id in self._entries

    def depth_by_priority(self) -> dict[int, int]:
        return {p: n for p, n in enumerate(self._depth) if n}
