"""Task events: every state change and progress report, for whoever is listening.

Publishing costs one dict lookup when nobody listens, so the engine may publish freely.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from skillexec.task import TaskStatus

__all__ = ["EventBus", "TaskEvent"]


@dataclass(frozen=True, slots=True)
class TaskEvent:
    task_id: str
    kind: str  # "status" | "progress"
    status: TaskStatus | None = None
    attempt: int = 0
    fraction: float | None = None
    message: str = ""
    at: float = field(default_factory=time.time)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.kind == "status" and self.status is not None and self.status.terminal

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "kind": self.kind,
                "status": self.status.value if self.status else None, "attempt": self.attempt,
                "fraction": self.fraction, "message": self.message, "at": self.at,
                **({"data": self.data} if self.data else {})}


class EventBus:
    def __init__(self, *, max_pending: int = 10_000) -> None:
        self._by_task: dict[str, set[asyncio.Queue[TaskEvent]]] = {}
        self._all: set[asyncio.Queue[TaskEvent]] = set()
        self._max_pending = max_pending

    def wants(self, task_id: str) -> bool:
        return bool(self._all) or task_id in self._by_task

    def publish(self, event: TaskEvent) -> None:
        targets = self._by_task.get(event.task_id)
        for q in (*self._all, *(targets or ())):
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:
                pass  # a subscriber that does not keep up loses events, never blocks the engine

    async def subscribe(self, task_id: str | None = None,
                        first: TaskEvent | None = None) -> AsyncIterator[TaskEvent]:
        """Events of one task (until its final one) or of all tasks (until cancelled)."""
        q: asyncio.Queue[TaskEvent] = asyncio.Queue(self._max_pending)
        if task_id is None:
            self._all.add(q)
        else:
            self._by_task.setdefault(task_id, set()).add(q)
        try:
            if first is not None:
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
