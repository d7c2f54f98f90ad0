"""WaitingPool: Celery's threads pool, where a message whose tasks started as it arrived
takes a pool thread only once they ended.

The consumer thread starts a message's tasks on the engine's loop as it receives the
message (``worker.EarlyStarts``); the Celery task a pool thread then runs only waits for
them, to ack the message late. Handed to a pool thread at once, that thread woke and took
the interpreter's lock (Celery's tracer, the task's start) while the loop was about to
claim and run the task: it came first on the GIL in most round trips. Here it is handed
over once the tasks ended: the same tracer, the same late ack, after the work instead of
in its way. A warm shutdown still waits for those messages (``on_stop``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, wait
from typing import Any

from celery.concurrency.base import apply_target
from celery.concurrency.thread import ApplyResult, TaskPool

__all__ = ["WaitingPool", "waiting_pool"]

Started = Callable[[str], "Future[Any] | None"]


class WaitingPool(TaskPool):  # type: ignore[misc]
    """``started(message_id)``: what the consumer started for that message (None: nothing,
    the message runs as in the threads pool)."""

    started: Started = staticmethod(lambda _message_id: None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def on_apply(self, target: Callable[..., Any], args: tuple[Any, ...] | None = None,
                 kwargs: dict[str, Any] | None = None,
                 callback: Callable[..., Any] | None = None,
                 accept_callback: Callable[..., Any] | None = None,
                 **options: Any) -> ApplyResult:
        message_id = options.get("correlation_id")
        started = self.started(message_id) if isinstance(message_id, str) else None
        if started is None or started.done():
            return super().on_apply(target, args, kwargs, callback, accept_callback, **options)
        applied: Future[Any] = Future()
        with self._lock:
            self._waiting.add(applied)

        def ended(_: Future[Any]) -> None:  # on the engine's loop: only a hand-over
            try:
                ran = self.executor.submit(apply_target, target, args, kwargs, callback,
                                           accept_callback)
            except RuntimeError as exc:  # the pool stopped: the message is not acked
                self._settle(applied, None, exc)
                return
            ran.add_done_callback(lambda f: self._settle(applied, f, None))

        started.add_done_callback(ended)
        return ApplyResult(applied)

    def _settle(self, applied: Future[Any], ran: Future[Any] | None,
                error: BaseException | None) -> None:
        with self._lock:
            self._waiting.discard(applied)
        if error is None and ran is not None:
            error = ran.exception()
        if error is not None:
            applied.set_exception(error)
        else:
            applied.set_result(ran.result() if ran is not None else None)

    def on_stop(self) -> None:
        # Warm shutdown: the messages whose tasks still run are waited for, as the threads
        # pool waits for its threads, before the pool's threads are stopped.
        with self._lock:
            waiting = list(self._waiting)
        wait(waiting)
        super().on_stop()


def waiting_pool(started: Started) -> type[WaitingPool]:
    """A WaitingPool class that asks ``started`` (Celery makes the pool from its class)."""
    return type("SkillexecPool", (WaitingPool,), {"started": staticmethod(started)})
