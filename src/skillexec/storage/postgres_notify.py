"""Waiting for a task's end across nodes: LISTEN ``skillexec_finished`` on one connection.

The terminal write NOTIFYs the channel with the task id in its own transaction (only the
write that wins does: the UPDATE's RETURNING feeds ``pg_notify``). One listening connection
per store fans the notifications out to the coroutines waiting on those ids. Notifications
are not durable (one sent while the connection is down is lost), so a waiter reads the
journal before it waits, again after each wakeup, whenever the listener reconnects, at
least every ``poll_s``, and once more at its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import psycopg

from skillexec.task import TaskInfo

__all__ = ["CHANNEL", "FinishedListener"]

CHANNEL = "skillexec_finished"
log = logging.getLogger("skillexec.journal")


class FinishedListener:
    def __init__(self, conninfo: str, *, poll_s: float = 5.0, connect_timeout_s: float = 10.0,
                 retry_s: float = 1.0) -> None:
        self._conninfo = conninfo
        self._poll_s = poll_s
        self._connect_timeout_s = connect_timeout_s
        self._retry_s = retry_s
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def wait(self, task_id: str, *, timeout_s: float | None,
                   read: Callable[[str], Awaitable[TaskInfo | None]]) -> TaskInfo | None:
        """The task's info once terminal; at ``timeout_s`` its info then (maybe unfinished);
        None for a task the journal does not hold."""
        self._start()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with contextlib.suppress(TimeoutError):  # not listening yet: the polls still answer
            await asyncio.wait_for(self._listening.wait(), min(self._poll_s, timeout_s or 1e9))
        while True:
            woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(task_id, set()).add(woken)
            try:
                info = await read(task_id)  # after registering: an end now wakes us
                if info is None or info.status.terminal:
                    return info
                left = self._poll_s if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    return info
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken, min(left, self._poll_s))
            finally:
                waiting = self._waiters.get(task_id)
                if waiting is not None:
                    waiting.discard(woken)
                    if not waiting:
                        del self._waiters[task_id]

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._wake_all()

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._listen(), name="skillexec-journal-listen")

    def _wake_all(self) -> None:
        for waiting in self._waiters.values():
            for fut in waiting:
                if not fut.done():
                    fut.set_result(None)

    async def _listen(self) -> None:
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, connect_timeout=int(self._connect_timeout_s))
            except psycopg.Error as exc:
                log.warning("the journal's listener cannot connect (retrying): %s", exc)
                await asyncio.sleep(self._retry_s)
                continue
            try:
                await conn.execute(f"LISTEN {CHANNEL}")
                self._listening.set()
                self._wake_all()  # what ended while we were not listening: read it again
                async for note in conn.notifies():
                    for fut in self._waiters.get(note.payload, ()):
                        if not fut.done():
                            fut.set_result(None)
            except psycopg.Error as exc:
                log.warning("the journal's listener lost its connection (reconnecting): %s",
                            exc)
            finally:
                self._listening.clear()
                await conn.close()
            await asyncio.sleep(self._retry_s)
