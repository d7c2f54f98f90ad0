"""Following a task's events over HTTP: ids a client can resume from, and a bounded buffer.

Event ids. A task's events have a natural order that replaying them from the engine's event
log reproduces: queued, then per attempt ``k`` its start, its progress reports (by time),
and the retry that ended it, then the terminal status. The id of an event is its place in
that order, written ``attempt.phase.microseconds`` (``0.0.0`` queued, ``2.0.0`` attempt 2
started, ``2.1.<t>`` a progress report at time t, ``2.2.0`` attempt 2 failed and will be
retried, ``end`` the terminal status). The same event gets the same id whether it was sent
live or rebuilt for a late subscriber, so a client that reconnects with ``Last-Event-ID``
gets exactly what comes after it, and a status the engine announces twice (at acceptance
and at the attempt's start) goes out once.

Slow clients. The engine's subscription is drained at once into a :class:`Subscription`
holding at most ``size`` events; when a client does not keep up, what it has not taken
yet is reduced to the latest state (the last status, the last progress report after it):
a client that stalls costs a bounded amount of memory, never the engine's time, and still
gets the terminal event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from skillexec.errors import ErrorType
from skillexec.events import TaskEvent
from skillexec.security.principals import Principal
from skillexec.service.envelope import ApiError
from skillexec.task import TaskStatus

__all__ = ["Key", "StreamSlot", "StreamSlots", "Subscription", "event_id", "event_payload",
           "key_of", "parse_event_id"]

Key = tuple[int, int, int]
_END = 1 << 40
_END_KEY: Key = (_END, 9, 0)
_BEFORE_START: Key = (-1, 0, 0)


def key_of(event: TaskEvent) -> Key:
    """The event's place in its task's order (see the module's text)."""
    if event.kind == "progress":
        return (event.attempt, 1, int(event.at * 1_000_000))
    status = event.status
    if status is None or status in (TaskStatus.PENDING, TaskStatus.QUEUED):
        return (0, 0, 0)
    if status.terminal:
        return _END_KEY
    if status is TaskStatus.RETRYING:
        return (event.attempt, 2, 0)
    return (event.attempt, 0, 0)


def event_id(key: Key) -> str:
    return "end" if key == _END_KEY else f"{key[0]}.{key[1]}.{key[2]}"


def parse_event_id(text: str | None) -> Key | None:
    """A Last-Event-ID back to its key; None for none or one this service never sent."""
    if not text:
        return None
    text = text.strip()
    if text == "end":
        return _END_KEY
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() and len(p) <= 20 for p in parts):
        return None
    a, p, t = (int(x) for x in parts)
    return (a, p, t)


def event_payload(event: TaskEvent, key: Key) -> dict[str, Any]:
    """One event as the streams send it (SSE ``data:``, a WebSocket message's body)."""
    out = event.to_dict()
    out["id"] = event_id(key)
    out["final"] = event.final
    if event.fraction is not None:
        out["progress"] = round(event.fraction * 100.0, 2)
    return out


class Subscription:
    """One client's view of one task's events: replayed, then live, each once, in order,
    after ``after``; at most ``size`` held for the client (then reduced to the latest
    state, counted in :attr:`dropped`). Iterate it; it ends after the terminal event."""

    def __init__(self, source: AsyncIterator[TaskEvent], *, size: int,
                 after: Key | None = None) -> None:
        self.size = size
        self.dropped = 0
        self._held: deque[tuple[Key, TaskEvent]] = deque()
        self._last = after if after is not None else _BEFORE_START
        self._wake = asyncio.Event()
        self._ended = False
        self._source = source
        self._pump = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            async for event in self._source:
                key = key_of(event)
                if key <= self._last:
                    continue  # sent already, or before where the client resumed
                self._last = key
                self._hold(key, event)
                if key == _END_KEY:
                    return
        finally:
            self._ended = True
            self._wake.set()
            with contextlib.suppress(Exception):
                await self._source.aclose()  # type: ignore[attr-defined]

    def _hold(self, key: Key, event: TaskEvent) -> None:
        held = self._held
        held.append((key, event))
        if len(held) > self.size:
            status = next(((k, e) for k, e in reversed(held) if e.kind == "status"), None)
            progress = next(((k, e) for k, e in reversed(held) if e.kind == "progress"), None)
            kept = sorted((x for x in (status, progress)
                           if x is not None and (status is None or x[0] >= status[0])),
                          key=lambda x: x[0])
            self.dropped += len(held) - len(kept)
            held.clear()
            held.extend(kept)
        self._wake.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> tuple[Key, TaskEvent]:
        while not self._held:
            if self._ended:
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()
        return self._held.popleft()

    async def close(self) -> None:
        if not self._pump.done():
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump


class StreamSlot:
    """One open stream's place, given back once (:meth:`release` may be called again)."""

    __slots__ = ("_owner", "_who")

    def __init__(self, owner: StreamSlots, who: str) -> None:
        self._owner: StreamSlots | None = owner
        self._who = who

    def release(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            owner.give_back(self._who)


class StreamSlots:
    """The event streams open now (SSE and WebSockets), in all and per key: each holds a
    connection, a file descriptor and its buffers for as long as its client likes, so one
    key could hold the process's descriptors until no journal or socket could be opened
    (2,000 streams from one runner key: +76 MB, +2,000 fds). Past ``total`` or ``per_key``
    a new stream is refused (429)."""

    def __init__(self, *, total: int, per_key: int) -> None:
        self.total = total
        self.per_key = per_key
        self.open = 0
        self._by_key: dict[str, int] = {}

    def take(self, principal: Principal) -> StreamSlot:
        """A place for one more stream of ``principal``'s key, or 429 (an ApiError)."""
        who = principal.key_id or principal.id
        held = self._by_key.get(who, 0)
        if held >= self.per_key or self.open >= self.total:
            mine = held >= self.per_key
            raise ApiError(429, "TOO_MANY_STREAMS", (
                f"this key has {held} event streams open (service.max_streams_per_key): "
                "close one, or follow several tasks over one WebSocket" if mine else
                f"the service has {self.open} event streams open (service.max_streams): "
                "try again once some have ended"), headers={"Retry-After": "1"},
                error_type=ErrorType.RESOURCE, retryable=True)
        self._by_key[who] = held + 1
        self.open += 1
        return StreamSlot(self, who)

    def give_back(self, who: str) -> None:
        self.open -= 1
        left = self._by_key.get(who, 1) - 1
        if left > 0:
            self._by_key[who] = left
        else:
            self._by_key.pop(who, None)
