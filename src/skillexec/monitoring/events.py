"""Task events: every state change and progress report, for whoever is listening.

Publishing costs one dict lookup when nobody listens, so the engine may publish freely.
With an :class:`EventLog` attached (the monitor attaches one), every event of a live task is
also kept, briefly, so that a subscriber who comes late replays the task from its start.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

from skillexec.task import TaskStatus

_now = time.time
# Enum members hash through Python code; their ids hash in C (this runs per event).
_TERMINAL_IDS = frozenset(id(s) for s in TaskStatus if s.terminal)

__all__ = ["EventBus", "EventLog", "TaskEvent"]


class _TaskEventFields(NamedTuple):
    task_id: str
    kind: str  # "status" | "progress"
    status: TaskStatus | None
    attempt: int
    fraction: float | None
    message: str
    at: float
    data: dict[str, Any]


_NO_DATA: dict[str, Any] = {}  # shared by events without data: do not mutate


class TaskEvent(_TaskEventFields):
    """One event of one task. Immutable; a named tuple, because the engine makes several
    per task and a tuple is made in half the time of a frozen dataclass."""

    __slots__ = ()

    def __new__(cls, task_id: str, kind: str, status: TaskStatus | None = None,
                attempt: int = 0, fraction: float | None = None, message: str = "",
                at: float | None = None, data: dict[str, Any] | None = None) -> TaskEvent:
        return tuple.__new__(cls, (task_id, kind, status, attempt, fraction, message,
                                   _now() if at is None else at,
                                   _NO_DATA if data is None else data))

    @property
    def final(self) -> bool:
        return self.kind == "status" and self.status is not None and self.status.terminal

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "kind": self.kind,
                "status": self.status.value if self.status else None, "attempt": self.attempt,
                "fraction": self.fraction, "message": self.message, "at": self.at,
                **({"data": self.data} if self.data else {})}


class EventLog:
    """The events of live tasks, each task's log bounded, dropped ``grace_s`` after its end.

    Ended tasks are kept at most ``max_ended``. Status events are always kept (a task has few);
    progress events beyond ``max_per_task`` replace the previous progress event, so a chatty
    skill costs a fixed amount. Expiry is lazy (checked as events arrive), so no timer per
    task.
    """

    __slots__ = ("_clock", "_ended", "_logs", "grace_s", "max_ended", "max_per_task")

    def __init__(self, *, max_per_task: int = 256, grace_s: float = 30.0,
                 max_ended: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_per_task = max_per_task
        self.max_ended = max_ended  # ended tasks kept at most (their grace cut short beyond)
        self.grace_s = grace_s
        self._clock = clock
        self._logs: dict[str, list[TaskEvent]] = {}
        self._ended: deque[tuple[float, str]] = deque()

    def record(self, event: TaskEvent) -> None:
        log = self._logs.get(event.task_id)
        if log is None:
            log = self._logs[event.task_id] = []
        if len(log) >= self.max_per_task and event.kind == "progress":
            if log[-1].kind == "progress":
                log[-1] = event
            return
        log.append(event)
        if id(event.status) in _TERMINAL_IDS and event.kind == "status":
            now = self._clock()
            self._ended.append((now + self.grace_s, event.task_id))
            ended = self._ended
            while ended and (ended[0][0] <= now or len(ended) > self.max_ended):
                self._logs.pop(ended.popleft()[1], None)

    def replay(self, task_id: str) -> tuple[TaskEvent, ...]:
        return tuple(self._logs.get(task_id, ()))

    def __len__(self) -> int:
        return len(self._logs)


class EventBus:
    def __init__(self, *, max_pending: int = 10_000) -> None:
        self._by_task: dict[str, set[asyncio.Queue[TaskEvent]]] = {}
        self._all: set[asyncio.Queue[TaskEvent]] = set()
        self._max_pending = max_pending
        self.log: EventLog | None = None  # when set, every event is kept for late subscribers

    def wants(self, task_id: str) -> bool:
        return self.log is not None or bool(self._all) or task_id in self._by_task

    def publish(self, event: TaskEvent) -> None:
        if self.log is not None:
            self.log.record(event)
        targets = self._by_task.get(event.task_id)
        if targets is None and not self._all:
            return
        for q in (*self._all, *(targets or ())):
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:
                pass  # a subscriber that does not keep up loses events, never blocks the engine

    async def subscribe(self, task_id: str | None = None,
                        first: TaskEvent | None = None) -> AsyncIterator[TaskEvent]:
        """Events of one task (until its final one) or of all tasks (until cancelled).

        For one task whose events the log still holds, those are replayed first (from the
        task's start, in place of ``first``), then the live ones follow, none twice.
        """
        q: asyncio.Queue[TaskEvent] = asyncio.Queue(self._max_pending)
        if task_id is None:
            self._all.add(q)
        else:
            self._by_task.setdefault(task_id, set()).add(q)
        # Taken in the same step as the queue is registered: nothing falls in between.
        replay = self.log.replay(task_id) if self.log is not None and task_id else ()
        try:
            for event in replay:
                yield event
                if event.final:
                    return
            if first is not None and not replay:
                yield first
                if first.final and task_id is not None:
                    return
            while True:
                event = await q.get()
                yield event
                if task_id is not None and event.final:
                    return
        finally:
            if task_id is None:
                self._all.discard(q)
            else:
                subs = self._by_task.get(task_id)
                if subs is not None:
                    subs.discard(q)
                    if not subs:
                        del self._by_task[task_id]
