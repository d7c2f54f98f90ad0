"""The threads that run installs: a few of their own, never the event loop's default pool.

An install waits minutes on its index at worst, and each first call that waited held a
thread of ``asyncio.to_thread``'s pool, which the journal, the process runner and the
artifacts use too: a few slow installs stopped the whole engine. Here at most
``workers`` installs run at once, on daemon threads (a process that exits does not wait
for one: its installer dies with the thread, see installer), and a job's result reaches
the loop that asked for it, if that loop is still there.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["InstallPool"]

_IDLE_S = 10.0  # an idle thread ends: an engine that installed once keeps none for good
_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class InstallPool:
    def __init__(self, *, workers: int = 4, name: str = "skillexec-install") -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._workers = workers
        self._name = name
        self._started = 0
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], Any]) -> asyncio.Future[Any]:
        """``job()`` run on one of the pool's threads; a future of the running loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((job, loop, future))
        with self._lock:  # one more thread while there are fewer than ``workers``
            if self._started < self._workers:
                self._started += 1
                threading.Thread(target=self._work, name=f"{self._name}-{self._started}",
                                 daemon=True).start()
        return future

    def _work(self) -> None:
        while True:
            try:
                job, loop, future = self._jobs.get(timeout=_IDLE_S)
            except queue.Empty:
                with self._lock:  # (submit puts its job before it counts the threads)
                    if self._jobs.empty():
                        self._started -= 1
                        return
                continue
            outcome: tuple[bool, Any]
            try:
                outcome = (True, job())
            except Exception as exc:  # handed to whoever awaits the job
                outcome = (False, exc)
            try:
                loop.call_soon_threadsafe(_settle, future, outcome)
            except RuntimeError:
                pass  # its loop is closed: nobody waits for it any more


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
