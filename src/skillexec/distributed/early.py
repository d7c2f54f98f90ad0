"""EarlyClaims: a lone task's claim sent by the thread that received its message.

Celery's consumer thread hears of a message first; the engine's loop (another thread)
runs the task. Handing the id over costs a thread's wake-up (0.4-0.5 ms under load), and
the claim, a round trip to PostgreSQL, used to leave only after it. Here the consumer
thread puts the claim on the wire itself (a prepared statement on a connection of its own,
sent without waiting: tens of µs) and the loop reads the answer, so the hand-over and the
claim's round trip overlap. It is the ledger's claim (``Ledger.claim_request``, the journal
in the ledger's database), for one id: same fence, same refusals.

One claim at a time on the one connection (a lock, held from the send to the answer's
read): a message that finds it busy, or that rings for several ids, takes the loop's
batched claims, which are cheaper per task under load. A connection that fails is dropped
and made again in the background; meanwhile every claim takes the loop's way.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import Transformer

from skillexec.distributed.ledger import CLAIM_REQUEST, Claim, Ledger, unavailable
from skillexec.storage.postgres_quick import flushed, replies

__all__ = ["APP_NAME", "EarlyClaims", "SentClaim"]

log = logging.getLogger("skillexec.distributed")
_NAME = b"skillexec_early_claim"
APP_NAME = "skillexec-early-claims"  # the connection's application_name
# The ledger's claim of a batch, for one id; parameters: worker, queue, lease (s), task id.
_ONE = CLAIM_REQUEST.replace("k.task_id = ANY(%s::text[])", "k.task_id = %s", 1)
_PREPARE = ("PREPARE skillexec_early_claim (text, text, float8, text) AS "
            + _ONE.replace("%s", "$1", 1).replace("%s", "$2", 1).replace("%s", "$3", 1)
            .replace("%s", "$4", 1))

# Sent before the claim, in the same packet: a task whose row is not there yet (its
# submission's commit still on its way through the server, under load: one claim in five)
# is given a millisecond, waited for in the server, before the claim (a statement of its
# own: it sees what committed meanwhile). Else its claim, refused, tries again from the
# worker after a pause, two or three round trips later (``WorkerNode._claim_seen``).
_WAIT = b"skillexec_early_wait"
_PREPARE_WAIT = ("PREPARE skillexec_early_wait (text) AS SELECT pg_sleep({wait_s!r})"
                 " WHERE NOT EXISTS (SELECT 1 FROM tasks WHERE task_id = $1)")


class SentClaim:
    """A claim on the wire; ``answer()`` (on an event loop) reads it."""

    def __init__(self, owner: EarlyClaims, conn: psycopg.Connection[Any], task_id: str) -> None:
        self._owner = owner
        self._conn = conn
        self.task_id = task_id
        self.sent_mono = time.monotonic()  # its lease runs from about now

    async def answer(self) -> tuple[Claim, tuple[Any, ...]] | None:
        """The claim and the task's row (``STORED_COLUMNS``), or None: not to be run here
        (no such task yet, ended, or held by another). Raises ``ResourceError`` when the
        answer cannot be read (the claim may have been taken: the lease decides then)."""
        pg = self._conn.pgconn
        ok = False
        try:
            await flushed(pg)
            results = await replies(pg)
            pg.exit_pipeline_mode()
            answer = self._rows(results)
            ok = True
            return answer
        except (psycopg.Error, OSError) as exc:
            raise unavailable(exc) from exc
        finally:
            self._owner.answered(self._conn, ok=ok)

    def _rows(self, results: list[pq.abc.PGresult]) -> tuple[Claim, tuple[Any, ...]] | None:
        res = results[-1] if len(results) == 2 else None  # the wait's, the claim's
        if res is None or res.status != pq.ExecStatus.TUPLES_OK:
            failed = next((r for r in results if r.status != pq.ExecStatus.TUPLES_OK), None)
            message = failed.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) if failed else None
            raise psycopg.OperationalError(
                (message or b"no answer").decode("utf-8", "replace"))
        if res.ntuples == 0:
            return None
        tx = Transformer(self._conn)
        tx.set_pgresult(res)
        row = tx.load_row(0, tuple)
        assert row is not None
        return Claim(self.task_id, int(row[0])), row[1:]


class EarlyClaims:
    """Sends claims from any thread, one at a time; ``SentClaim.answer`` reads each."""

    def __init__(self, ledger: Ledger, *, queue: str, retry_s: float = 5.0,
                 wait_s: float = 0.001) -> None:
        self.url = ledger.url
        self.wait_s = float(wait_s)  # for a task's row not there yet, before the claim
        self.retry_s = retry_s  # between attempts to connect again, after a failure
        self._params = [ledger.worker_id.encode(), queue.encode(),
                        repr(float(ledger.lease_s)).encode()]
        self._lock = threading.Lock()  # held from a send to its answer's read
        self._conn: psycopg.Connection[Any] | None = None
        self._retry_mono = 0.0
        self._connecting = False
        self._closed = False
        self.sent = 0  # claims sent early (tests, the bench)

    def open(self) -> None:
        """Connect now (a failure leaves early claims off until a later attempt)."""
        self._connect()

    def _connect(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        try:
            conn = psycopg.Connection.connect(self.url, autocommit=True, connect_timeout=5,
                                              application_name=APP_NAME,
                                              options="-c synchronous_commit=off")
            conn.execute(_PREPARE)
            conn.execute(_PREPARE_WAIT.format(wait_s=self.wait_s))
        except psycopg.Error as exc:
            log.warning("early claims are off for now: %s", exc)
            if conn is not None:
                conn.close()
            conn = None
            self._retry_mono = time.monotonic() + self.retry_s
        with self._lock:
            self._connecting = False
            if conn is not None and self._closed:
                conn.close()
            elif conn is not None:
                self._conn = conn

    def send(self, task_id: str) -> SentClaim | None:
        """Put the claim of ``task_id`` on the wire; None when it must take the loop's way
        (a claim already on this connection, or no connection)."""
        if not self._lock.acquire(blocking=False):
            return None
        conn = self._conn
        try:
            if conn is None or conn.closed:
                self._conn = None
                self._reconnect()
                self._lock.release()
                return None
            pg, key = conn.pgconn, task_id.encode()
            pg.enter_pipeline_mode()
            pg.send_query_prepared(_WAIT, [key])
            pg.send_query_prepared(_NAME, [*self._params, key])
            pg.pipeline_sync()
            pg.flush()
        except Exception as exc:
            log.warning("early claim of task %s not sent (%s)", task_id, exc)
            self._drop(conn)
            self._lock.release()
            return None
        self.sent += 1
        return SentClaim(self, conn, task_id)

    def answered(self, conn: psycopg.Connection[Any], *, ok: bool) -> None:
        """The answer was read (``ok``) or not (the connection's state is unknown: it goes)."""
        if not ok:
            self._drop(conn)
        self._lock.release()

    def _drop(self, conn: psycopg.Connection[Any] | None) -> None:
        if conn is not None:
            conn.close()
        self._conn = None
        self._retry_mono = time.monotonic() + self.retry_s

    def _reconnect(self) -> None:
        if self._connecting or self._closed or time.monotonic() < self._retry_mono:
            return
        self._connecting = True
        threading.Thread(target=self._connect, daemon=True,
                         name="skillexec-early-claims").start()

    def close(self) -> None:
        # After the claim on the wire, if any, was read (a loop that stopped reads none).
        held = self._lock.acquire(timeout=5.0)
        try:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        finally:
            if held:
                self._lock.release()
