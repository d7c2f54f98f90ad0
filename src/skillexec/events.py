"""Task events: every state change and progress report, for whoever is listening.

Publishing costs one dict lookup when nobody listens, so the engine may publish freely.
With an :class:`EventLog` attached (the monitor attaches one), a subscriber who comes late
replays the task from its start (see EventLog for how that stays cheap).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple, Protocol

from skillexec.task import TaskStatus

_now = time.time

__all__ = ["EventBus", "EventLog", "TaskEvent", "TaskState"]


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


class TaskState(Protocol):
    """What the log needs to know of a task: an ExecutionTask or an ExecutionResult."""

    @property
    def task_id(self) -> str: ...

    @property
    def created_at(self) -> float: ...

    @property
    def started_at(self) -> float | None: ...

    @property
    def attempts(self) -> int: ...

    @property
    def status(self) -> TaskStatus: ...


class _Kept:
    """What cannot be rebuilt of one task: its progress reports and when its retries began."""

    __slots__ = ("ended_at", "progress", "retries")

    def __init__(self) -> None:
        self.progress: list[TaskEvent] = []
        self.retries: list[float] = []
        self.ended_at: float | None = None


class EventLog:
    """What a late subscriber replays: a task's events from its start, rebuilt cheaply.

    Creating an event object for every state change of every task would cost the engine
    several allocations per call for the rare subscriber who comes late. So nothing is
    recorded per state change: a task's status events are rebuilt from the task itself
    (created, queued, started, each attempt, retries, its end): the live task while it runs,
    its journal record once it has ended. Only what cannot be rebuilt is kept here: progress
    reports (at most ``max_per_task``; beyond, the latest replaces the previous one) and when
    each retry began. A task that had neither costs the log nothing at all; one that had
    them keeps them ``grace_s`` seconds after its end, at most ``max_ended`` such tasks.
    """

    __slots__ = ("_clock", "_expires", "_order", "grace_s", "kept", "live", "max_ended",
                 "max_per_task")

    def __init__(self, *, max_per_task: int = 256, grace_s: float = 30.0,
                 max_ended: int = 256,
                 clock: Callable[[], float] = time.time) -> None:
        self.max_per_task = max_per_task
        self.grace_s = grace_s
        self.max_ended = max_ended
        self._clock = clock
        self.live: Callable[[str], TaskState | None] = lambda _task_id: None
        self.kept: dict[str, _Kept] = {}  # by task id; the engine tells the end of these
        # Ended kept tasks, oldest first. Not the dict's own order: a dict added to at one
        # end and emptied from the other keeps the removed slots until it is resized, so
        # finding its first item scans them all; a deque does not.
        self._order: deque[str] = deque()
        self._expires = 0.0  # when the oldest ended task's grace ends (0: check now)

    def _of(self, task_id: str) -> _Kept:
        kept = self.kept.get(task_id)
        if kept is None:
            kept = self.kept[task_id] = _Kept()
        return kept

    def record(self, event: TaskEvent) -> None:
        """Keep a progress event (status events are rebuilt, not kept) of a live task: a
        skill's thread that outlives its task (a sync skill past its timeout) may go on
        reporting, and must not make the log keep what no end will ever release."""
        if event.kind != "progress" or self.live(event.task_id) is None:
            return
        log = self._of(event.task_id).progress
        if len(log) >= self.max_per_task:
            log[-1] = event
        else:
            log.append(event)

    def retry_started(self, task_id: str, at: float) -> None:
        self._of(task_id).retries.append(at)

    def ended(self, task_id: str) -> None:
        """A task this log keeps something of has ended: kept for the grace period."""
        kept = self.kept.get(task_id)
        if kept is None:
            return
        if kept.ended_at is None:
            self._order.append(task_id)
        kept.ended_at = self._clock()
        while len(self._order) > self.max_ended:
            self.kept.pop(self._order.popleft(), None)
        if kept.ended_at >= self._expires:
            self._expire()

    def _expire(self) -> None:
        limit = self._clock() - self.grace_s
        order = self._order
        while order:
            kept = self.kept.get(order[0])
            at = kept.ended_at if kept is not None else None
            if at is not None and at >= limit:
                self._expires = at + self.grace_s
                return
            self.kept.pop(order.popleft(), None)
        self._expires = 0.0

    def replay(self, task_id: str, ended: TaskState | None = None) -> tuple[TaskEvent, ...]:
        """The task's events so far, oldest first: rebuilt from the live task, else from
        ``ended`` (its journal record, with ``finished_at``); () when neither is known."""
        state = self.live(task_id) or ended
        if state is None:
            return ()
        status, attempts = state.status, state.attempts
        created, started = state.created_at, state.started_at
        finished: float | None = getattr(state, "finished_at", None)
        kept = self.kept.get(task_id)
        if kept is not None and kept.ended_at is not None and kept.ended_at < self._clock() \
                - self.grace_s:
            kept = None  # past its grace: as if already forgotten
        out: list[TaskEvent] = []
        if started is None or started > created:
            out.append(TaskEvent(task_id, "status", TaskStatus.QUEUED, 0, at=created))
        retries = kept.retries if kept is not None else []
        if attempts >= 1 and started is not None:
            out.append(TaskEvent(task_id, "status", TaskStatus.RUNNING, 1, at=started))
            for n in range(2, attempts + 1):
                at = retries[n - 2] if n - 2 < len(retries) else started
                out.append(TaskEvent(task_id, "status", TaskStatus.RETRYING, n - 1, at=at))
                out.append(TaskEvent(task_id, "status", TaskStatus.RUNNING, n, at=at))
        if status is TaskStatus.RETRYING:
            out.append(TaskEvent(task_id, "status", status, attempts, at=self._clock()))
        final = None
        if status.terminal:
            final = TaskEvent(task_id, "status", status, attempts,
                              at=finished or self._clock())
        if kept is not None:
            out.extend(kept.progress)
        out.sort(key=lambda e: e.at)
        if final is not None:
            out.append(final)
        return tuple(out)

    def __len__(self) -> int:
        return len(self.kept)


class EventBus:
    def __init__(self, *, max_pending: int = 10_000) -> None:
        self._by_task: dict[str, set[asyncio.Queue[TaskEvent]]] = {}
        self._all: set[asyncio.Queue[TaskEvent]] = set()
        self._max_pending = max_pending
        self.log: EventLog | None = None  # when set, late subscribers replay from the start

    def wants(self, task_id: str) -> bool:
        return bool(self._all) or task_id in self._by_task

    def publish(self, event: TaskEvent) -> None:
        if self.log is not None and event.kind == "progress":
            self.log.record(event)
        targets = self._by_task.get(event.task_id)
        if targets is None and not self._all:
            return
        for q in (*self._all, *(targets or ())):
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:
                pass  # a subscriber that does not keep up loses events, never blocks the engine

    def status(self, task: TaskState) -> None:
        """A task's status changed: tell its subscribers (nothing is made when none)."""
        if bool(self._all) or task.task_id in self._by_task:
            self.publish(TaskEvent(task_id=task.task_id, kind="status", status=task.status,
                                   attempt=task.attempts))

    def progress_sink(self, task: TaskState) -> Callable[[float, str], None] | None:
        """Where a skill's progress reports go (None: nobody could ever see them)."""
        if self.log is None and not self.wants(task.task_id):
            return None
        loop = asyncio.get_running_loop()

        def sink(fraction: float, message: str) -> None:
            event = TaskEvent(task_id=task.task_id, kind="progress", status=task.status,
                              attempt=task.attempts, fraction=fraction, message=message)
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                self.publish(event)
            else:  # a sync skill in a worker thread
                loop.call_soon_threadsafe(self.publish, event)

        return sink

    async def subscribe(self, task_id: str | None = None, first: TaskEvent | None = None, *,
                        journal: Callable[[str], Awaitable[TaskState | None]] | None = None,
                        ended: Callable[[str], Awaitable[TaskState | None]] | None = None,
                        ) -> AsyncIterator[TaskEvent]:
        """Events of one task (until its final one) or of all tasks (until cancelled).

        With a log, a task's events so far are replayed first (from the task's start, in
        place of ``first``), then the live ones follow, none twice: a live task is rebuilt
        in the same step as the queue is registered; one that has already ended is rebuilt
        from ``journal`` (its record), and nothing more will come for it. ``ended``: for a
        task another engine runs, whose events never come here, its end (awaited beside
        the queue; the final event is made from it).
        """
        q: asyncio.Queue[TaskEvent] = asyncio.Queue(self._max_pending)
        if task_id is None:
            self._all.add(q)
        else:
            self._by_task.setdefault(task_id, set()).add(q)
        try:
            replay: tuple[TaskEvent, ...] = ()
            if self.log is not None and task_id:
                replay = self.log.replay(task_id)
                if not replay and journal is not None:
                    # Not live when the queue was registered: it had ended (its end is in
                    # the journal before the engine lets go of it).
                    replay = self.log.replay(task_id, await journal(task_id))
            for event in replay:
                yield event
                if event.final:
                    return
            if first is not None and not replay:
                yield first
                if first.final and task_id is not None:
                    return
            if ended is not None and task_id is not None:
                async for event in _until_ended(q, ended(task_id), task_id):
                    yield event
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


async def _until_ended(q: asyncio.Queue[TaskEvent], ended: Awaitable[TaskState | None],
                       task_id: str) -> AsyncIterator[TaskEvent]:
    """The queue's events until the final one, which ``ended`` makes when the queue has
    none (the task runs on another engine)."""
    ending = asyncio.ensure_future(ended)
    try:
        while True:
            getting = asyncio.ensure_future(q.get())
            await asyncio.wait((getting, ending), return_when=asyncio.FIRST_COMPLETED)
            if getting.done():
                event = getting.result()
            else:
                getting.cancel()  # still waiting: no event taken from the queue
                state = ending.result()
                if state is None or not state.status.terminal:  # no such task: nothing comes
                    return
                event = TaskEvent(task_id, "status", state.status, state.attempts,
                                  at=getattr(state, "finished_at", None))
            yield event
            if event.final:
                return
    finally:
        ending.cancel()
