"""Waiting for a task's end across nodes: LISTEN ``skillexec_finished`` on one connection.

The terminal write NOTIFYs the channel in its own transaction (only the write that wins
does: the UPDATE's RETURNING feeds ``pg_notify``), delivered once it has committed. The
payload is the ended row (``INFO_COLUMNS`` as a JSON array, the result in base64) when it
fits in a notification, else the task id alone: a waiter woken with the row returns it, with
no read of its own (a round trip off every distributed call's path). One listening
connection per store fans the notifications out to the coroutines waiting on those ids.
Notifications are not durable (one sent while the connection is down is lost), so a waiter
reads the journal before it waits (unless it was registered, listening, before its task
was published: ``expect``), again after a wakeup without the row, whenever the listener
reconnects, at least every ``poll_s``, and once more at its timeout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import psycopg

from skillexec.task import TaskInfo

__all__ = ["CHANNEL", "ENDED_COLUMNS", "NOTE", "NOTED", "FinishedListener", "noted"]

CHANNEL = "skillexec_finished"
log = logging.getLogger("skillexec.journal")

# What the terminal write's CTE ``done`` returns, and the notification it sends: the row
# (``rows.INFO_COLUMNS``' order) when shorter than PostgreSQL's 8,000-byte limit, the result
# only when small (no large result is base64-encoded to be thrown away), else the task id.
ENDED_COLUMNS = ("task_id, skill_id, skill_version, status, priority, attempts, created_at,"
                 " started_at, finished_at, result, principal")
NOTE = (f"pg_notify('{CHANNEL}', CASE WHEN octet_length(n.note) < 7900 THEN n.note"
        " ELSE d.task_id END)")
NOTED = ("done d, LATERAL (SELECT json_build_array(d.task_id, d.skill_id, d.skill_version,"
         " d.status, d.priority, d.attempts, d.created_at, d.started_at, d.finished_at,"
         " CASE WHEN octet_length(d.result) <= 5000 THEN encode(d.result, 'base64') END,"
         " d.principal)::text AS note) n")
Decode = Callable[[tuple[Any, ...]], TaskInfo]
_EXPECTED_MAX = 10_000


def noted(payload: str) -> tuple[str, list[Any] | None]:
    """A notification's task id, and the ended row it carries (None: the id alone)."""
    if payload.startswith("["):
        row: list[Any] = orjson.loads(payload)
        return row[0], row
    return payload, None


class FinishedListener:
    def __init__(self, conninfo: str, *, poll_s: float = 5.0, connect_timeout_s: float = 10.0,
                 retry_s: float = 1.0, decode: Decode | None = None) -> None:
        """``decode``: an ``INFO_COLUMNS`` row as a TaskInfo (None: payloads are not read,
        every wakeup reads the journal)."""
        self._conninfo = conninfo
        self._decode = decode
        self._poll_s = poll_s
        self._connect_timeout_s = connect_timeout_s
        self._retry_s = retry_s
        self._waiters: dict[str, set[asyncio.Future[TaskInfo | None]]] = {}
        # Tasks this node will wait for, registered before anyone could end them.
        self._expected: dict[str, asyncio.Future[TaskInfo | None]] = {}
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    def expect(self, task_id: str) -> None:
        """A task this node will wait for, before it is published (so before anyone could
        end it): listening now, its notification is kept from here and the wait needs no
        read first. A reconnection in between wakes it to read, as it wakes every waiter."""
        if not self._listening.is_set():
            return
        fut: asyncio.Future[TaskInfo | None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(task_id, set()).add(fut)
        self._expected[task_id] = fut
        if len(self._expected) > _EXPECTED_MAX:  # the oldest's caller never came to wait
            old = next(iter(self._expected))
            self._drop(old, self._expected.pop(old))

    async def wait(self, task_id: str, *, timeout_s: float | None,
                   read: Callable[[str], Awaitable[TaskInfo | None]]) -> TaskInfo | None:
        """The task's info once terminal; at ``timeout_s`` its info then (maybe unfinished);
        None for a task the journal does not hold."""
        self._start()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        ended: TaskInfo | None = None
        expected = self._expected.pop(task_id, None)
        if expected is not None:
            try:
                with contextlib.suppress(TimeoutError):
                    ended = await asyncio.wait_for(expected, min(self._poll_s,
                                                                 timeout_s or 1e9))
                    if ended is not None:
                        return ended
            finally:
                self._drop(task_id, expected)
        if not self._listening.is_set():
            with contextlib.suppress(TimeoutError):  # not listening yet: polls still answer
                await asyncio.wait_for(self._listening.wait(),
                                       min(self._poll_s, timeout_s or 1e9))
        while True:
            woken: asyncio.Future[TaskInfo | None] = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(task_id, set()).add(woken)
            try:
                info = await read(task_id)  # after registering: an end now wakes us
                if info is None or info.status.terminal:
                    return info
                left = self._poll_s if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    return info
                with contextlib.suppress(TimeoutError):
                    ended = await asyncio.wait_for(woken, min(left, self._poll_s))
                if ended is not None:  # the row came with the notification
                    return ended
            finally:
                self._drop(task_id, woken)

    def _drop(self, task_id: str, fut: asyncio.Future[TaskInfo | None]) -> None:
        waiting = self._waiters.get(task_id)
        if waiting is not None:
            waiting.discard(fut)
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

    def _heard(self, payload: str) -> None:
        """Wake the waiters of the task a notification names, with its row if it came."""
        task_id, row = noted(payload)
        waiting = self._waiters.get(task_id)
        if not waiting:
            return
        ended: TaskInfo | None = None
        if row is not None and row[9] is not None and self._decode is not None:
            try:
                row[9] = base64.b64decode(row[9])
                ended = self._decode(tuple(row))
            except Exception:  # whatever it holds, the waiter's read is the truth
                log.exception("task %s: its end's notification could not be read", task_id)
        for fut in waiting:
            if not fut.done():
                fut.set_result(ended)

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
                    if self._waiters:
                        self._heard(note.payload)
            except psycopg.Error as exc:
                log.warning("the journal's listener lost its connection (reconnecting): %s",
                            exc)
            finally:
                self._listening.clear()
                await conn.close()
            await asyncio.sleep(self._retry_s)
