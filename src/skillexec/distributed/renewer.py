"""LeaseRenewer: a worker's heartbeat and lease renewals, on a thread of their own.

The engine's loop runs inline async skills, and one that blocks (``time.sleep``, a sync
client called from async code) stops everything on that loop. Renewed from the loop, the
leases of every task this worker held then ran out: other workers' reapers took them back,
ran the idempotent ones a second time while they still ran here, ended the others
``interrupted`` although they completed, and dropped the ends made here. So the renewals
come from this thread, over a connection of its own, which a blocked loop does not stop.

What it renews is what the node holds (``WorkerNode.leases``), read from here; what it was
answered goes to the loop (``on_renewed``), which takes back or stops a run whose claim was
lost (the database unreachable for longer than a lease). A loop that has not run for longer
than the longest attempt it holds may run (``stall_bound_s``) is stuck, not slow: renewals
stop, and the reaper gives its tasks to others.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import psycopg

from skillexec.distributed.ledger import BEAT, DURABLE, RENEW, Claim

__all__ = ["LeaseRenewer", "Renewed"]

log = logging.getLogger("skillexec.distributed")
APP_NAME = "skillexec-lease-renewer"


class Renewed(Protocol):
    """What the renewer reads of its node (from its thread) and tells it (on its loop)."""

    @property
    def stopping(self) -> bool: ...

    def leases(self) -> dict[str, Claim]:
        """The claims to renew: those the node holds now (a copy)."""

    def stall_bound_s(self) -> float:
        """How long the loop may go without running before it counts as stuck."""

    def on_renewed(self, asked: dict[str, Claim], renewed: set[str]) -> None:
        """On the loop: ``asked`` were sent for renewal, ``renewed`` came back."""

    def on_beat_failed(self, error: str) -> None:
        """On the loop: a heartbeat failed (the node may have to fence itself)."""


class LeaseRenewer:
    def __init__(self, node: Renewed, *, url: str, worker_id: str, lease_s: float,
                 heartbeat_s: float, queues: str, loop: asyncio.AbstractEventLoop) -> None:
        self.node = node
        self.url = url
        self.worker_id = worker_id
        self.lease_s = lease_s
        self.heartbeat_s = heartbeat_s
        self.queues = queues
        self.loop = loop
        self.renewed_mono = time.monotonic()  # the last renewal that reached the database
        self.loop_seen_mono = time.monotonic()  # the last time the loop ran a callback
        self._stop = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self._stalled_said = 0.0  # how long a stall had lasted when last logged
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="skillexec-lease-renewer")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.lease_s + 5)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            self.beat()

    def beat(self) -> None:
        """One heartbeat: the worker's row, and the leases of what the node holds."""
        stalled_s = time.monotonic() - self.loop_seen_mono
        asked = self.node.leases()
        if asked and stalled_s > self.lease_s:
            self._say_stalled(stalled_s)
        if stalled_s > self.node.stall_bound_s():
            asked = {}  # stuck: its tasks are for others now (the reaper's)
        try:
            renewed = self._renew(asked)
        except (psycopg.Error, OSError) as exc:
            self._drop()
            self._to_loop(self.node.on_beat_failed, " ".join(str(exc).split()))
            return
        self.renewed_mono = time.monotonic()
        self._to_loop(self.node.on_renewed, asked, renewed)

    def _renew(self, asked: dict[str, Claim]) -> set[str]:
        conn = self._conn
        if conn is None or conn.closed:
            conn = self._conn = psycopg.Connection.connect(
                self.url, autocommit=True, connect_timeout=max(1, int(self.lease_s / 2)),
                application_name=APP_NAME,
                # a database that hangs is a failed beat, not a thread stuck for good
                options=f"-c statement_timeout={max(1000, int(self.lease_s * 500))}")
        with conn.transaction():
            conn.execute(DURABLE)
            conn.execute(BEAT, (self.worker_id, socket.gethostname(), os.getpid(),
                                self.queues, self.node.stopping))
            if not asked:
                return set()
            cur = conn.execute(RENEW, (self.lease_s, self.worker_id, list(asked)))
            return {str(r[0]) for r in cur.fetchall()}

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _to_loop(self, fn: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            self.loop_seen_mono = time.monotonic()
            self._stalled_said = 0.0
            fn(*args)
        try:
            self.loop.call_soon_threadsafe(run)
        except RuntimeError:  # the loop closed: the worker is going
            pass

    def _say_stalled(self, stalled_s: float) -> None:
        if self._stalled_said and stalled_s < self._stalled_said + 10:
            return  # said a moment ago: once per 10 s of one stall
        self._stalled_said = stalled_s
        bound = self.node.stall_bound_s()
        log.warning("the worker's event loop has not run for %.0f s: an inline async skill "
                    "is blocking it (time.sleep or a blocking client called from async "
                    "code; use await, or isolation 'process'); the leases of the %d tasks "
                    "it holds are renewed meanwhile, for up to %.0f s", stalled_s,
                    len(self.node.leases()), bound)
