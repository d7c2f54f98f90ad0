"""TaskQueue: priority order with aging, FIFO within a priority, bounded.

Aging that grows every waiting task's priority at the same linear rate needs no timer: task
a goes before task b when ``pa + (now - ta)/T > pb + (now - tb)/T``, and ``now`` cancels
out, so the order is fixed at push time by the key ``t - p*T`` (a virtual arrival time). A
priority-0 task therefore waits at most ``9*T`` behind any stream of priority-9 work.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Protocol

from skillexec.errors import ResourceError
from skillexec.task import ExecutionTask

__all__ = ["QueueBackend", "TaskQueue"]


class QueueBackend(Protocol):
    """Where accepted tasks wait for a worker slot."""

    def push(self, task: ExecutionTask) -> None: ...

    def pop(self) -> ExecutionTask | None: ...

    def discard(self, task_id: str) -> bool: ...

    def __len__(self) -> int: ...

    def depth_by_priority(self) -> dict[int, int]: ...


class TaskQueue:
    def __init__(self, *, capacity: int, aging_s: float) -> None:
        self.capacity = capacity
        self.aging_s = aging_s
        self._heap: list[list[object]] = []
        self._entries: dict[str, list[object]] = {}
        self._seq = itertools.count()
        self._depth = [0] * 10

    def push(self, task: ExecutionTask) -> None:
        if len(self._entries) >= self.capacity:
            raise ResourceError(
                f"the queue is full ({self.capacity} tasks waiting); try again later",
                code="queue_full", retryable=True,
                details={"capacity": self.capacity},
            )
        entry: list[object] = [task.queued_mono - task.priority * self.aging_s,
                               next(self._seq), task]
        self._entries[task.task_id] = entry
        self._depth[task.priority] += 1
        heapq.heappush(self._heap, entry)

    def pop(self) -> ExecutionTask | None:
        heap = self._heap
        while heap:
            task = heapq.heappop(heap)[2]
            if task is not None:
                assert isinstance(task, ExecutionTask)
                del self._entries[task.task_id]
                self._depth[task.priority] -= 1
                return task
        return None

    def discard(self, task_id: str) -> bool:
        entry = self._entries.pop(task_id, None)
        if entry is None:
            return False
        task = entry[2]
        assert isinstance(task, ExecutionTask)
        self._depth[task.priority] -= 1
        entry[2] = None  # removed lazily when it reaches the top of the heap
        return True

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, task_id: str) -> bool:
        return task_id in self._entries

    def depth_by_priority(self) -> dict[int, int]:
        return {p: n for p, n in enumerate(self._depth) if n}
