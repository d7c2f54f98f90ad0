"""The journal's write contract, in one place.

What is awaited (durable before the pipeline goes on):
- a task's acceptance (``queued``): its caller hears of the id only once the journal has it;
  if the write fails, the call fails and nothing of it stays queued;
- the start of an attempt of a task that is not idempotent (``started``): at most once, the
  journal knows the attempt began before it does;
- a task's end (``finished``): its waiter and middleware hear of it after. If this write
  fails, the failure is logged and the task still ends here (the journal keeps it
  unfinished, for the next engine's recovery).

What is fire-and-forget (ordered per task, batched in a group commit, never raised):
- the start of an idempotent task's attempt, ``retrying``, the insert of a refused request
  (committed with its end, one journal round);
- events (``append_event``: breaker, dead_letter, adaptive, resource, alert, ...), through
  :class:`EventWriter`: a failed event is logged at WARNING with its kind, and the call that
  caused it goes on. ``flush()`` waits for the events written so far (reports read them);
  ``durable()`` writes one and waits for it (alerts, recorded by their own loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from skillexec.storage.store import TaskStore

__all__ = ["EventWriter"]

log = logging.getLogger("skillexec.journal")


class EventWriter:
    """Fire-and-forget journal events: the one way components record them."""

    def __init__(self, store: TaskStore | Callable[[], TaskStore | None] | None) -> None:
        self._store = store
        self._pending: set[asyncio.Future[None]] = set()  # written, not yet durable

    @property
    def store(self) -> TaskStore | None:
        st = self._store
        if st is None or hasattr(st, "append_event"):
            return st  # type: ignore[return-value]
        return st()

    def record(self, kind: str, data: dict[str, Any]) -> None:
        """Journal an event; never raises, never waits (see the module's contract)."""
        store = self.store
        if store is None:
            return
        try:
            written: Awaitable[None] = store.append_event(kind, data)
        except Exception as exc:  # closed, or a bug: the event is lost, the call goes on
            log.warning("a %s event was not journaled: %s", kind, exc)
            return
        if not isinstance(written, asyncio.Future):
            return  # a store that wrote it already (the memory store)
        if written.done():
            _report(kind, written)
        else:
            self._pending.add(written)
            written.add_done_callback(self._pending.discard)
            written.add_done_callback(lambda fut: _report(kind, fut))

    async def durable(self, kind: str, data: dict[str, Any]) -> None:
        """Journal an event and wait until it is durable; a failure is logged, not raised
        (for a loop that records as it goes, such as the alert manager's)."""
        store = self.store
        if store is None:
            return
        try:
            await store.append_event(kind, data)
        except Exception as exc:
            log.warning("a %s event was not journaled: %s", kind, exc)

    async def flush(self) -> None:
        """Wait until the events recorded so far are durable (or failed, and logged)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


def _report(kind: str, fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("a %s event was not journaled: %s", kind, fut.exception())
