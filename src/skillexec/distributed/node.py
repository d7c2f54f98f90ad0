"""WorkerNode: what one ``skillexec worker`` process does beside Celery.

Celery delivers task ids to its pool threads; each thread hands the id to the node's event
loop (one thread, the engine's) and blocks until the task ends, so Celery's concurrency is
the engine's and a message is acked only after its task ended (late ack). On the loop, a
delivery is: read the journal, take the fenced claim (a duplicate or stale message is
refused there), run the task in the engine. Where the journal is the ledger's database,
the claim returns the request and the end carries the fence check (one statement each).
A message's lone id may come with its claim already on the wire, sent by the thread that
received the message (``EarlyClaims``); the loop then only reads its answer.
A message may ring for many ids: the node claims only as many as it has room for (its free
slots, and those that would start within ``claim_ahead_s`` behind the running ones), and
hands the rest back to the broker for a worker with room, so that long tasks do not pile
up on one worker while another idles.
Beside that the node's leases are renewed from a thread of their own (``renewer``: a skill
blocking this loop does not stop them), and it sweeps as the leader (``sweeper``): expired
leases (idempotent tasks published again, non-idempotent ones ended ``interrupted``) and
queued tasks nobody claimed (published again).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import socket
import time
from pathlib import Path

import psycopg

from skillexec.distributed.early import SentClaim
from skillexec.distributed.fenced import FencedStore
from skillexec.distributed.handback import give_back_waiting, hand_back_unstarted
from skillexec.distributed.leases import HeldLeases
from skillexec.distributed.ledger import Claim, Ledger, unavailable
from skillexec.distributed.metrics import NodeMetrics
from skillexec.distributed.node_types import (
    ClaimedRunner,
    Delivery,
    NodeEngine,
    NodeSettings,
    Publisher,
    Unstarted,
    interrupted_info,
    new_worker_id,
    past_deadline,
)
from skillexec.distributed.orphans import OrphanFiles
from skillexec.distributed.poison import (
    REQUEUE_PAUSE_S,
    Unreadable,
    UnreadableTasks,
    check_keyring,
    decoded,
    unreadable_error,
    valid_task_id,
)
from skillexec.distributed.renewer import LeaseRenewer
from skillexec.distributed.shutdown import hand_back_running
from skillexec.distributed.sweeper import Sweeper
from skillexec.errors import CancelledError, SkillExecError
from skillexec.storage.store import StoredTask, TaskStore
from skillexec.task import ExecutionResult, TaskStatus

__all__ = ["ClaimedRunner", "Delivery", "NodeEngine", "NodeSettings", "WorkerNode",
           "new_worker_id"]

log = logging.getLogger("skillexec.distributed")
_STARTED = frozenset({TaskStatus.RUNNING, TaskStatus.RETRYING})
# A claim that finds no row is tried again after each pause (3.9 s in all), then dropped.
_UNSEEN_PAUSES_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


class _Absent(enum.Enum):
    """What a claim that took nothing found in the journal (``WorkerNode._claim``)."""

    ABSENT = 0  # no such task (yet)
    AGAIN = 1  # none when the claim looked, one now


_ABSENT, _AGAIN = _Absent.ABSENT, _Absent.AGAIN


class WorkerNode:
    def __init__(self, *, engine: NodeEngine, store: FencedStore, ledger: Ledger,
                 publisher: Publisher, settings: NodeSettings, queues: list[str],
                 metrics: NodeMetrics, slots: int, artifacts_dir: Path | None = None) -> None:
        self.engine = engine
        self.store = store
        self.journal: TaskStore = store.journal()
        self.ledger = ledger
        self.publisher = publisher
        self.settings = settings
        self.queues = queues
        self.metrics = metrics
        self.idempotent: dict[str, bool] = {}  # claimed here: task id -> idempotent
        self.slots = slots  # the engine's: tasks run here at once
        self.held = 0  # ids taken from messages and not yet ended here
        self.task_s: float | None = None  # mean time a task held a slot here (None: none yet)
        self.stopping = False
        self._renewed_mono = time.monotonic()  # before the renewer's thread starts
        self.leases = HeldLeases(self)
        self.renewer: LeaseRenewer | None = None
        self.sweeper = Sweeper(self)
        self.unreadable = UnreadableTasks(settings.reconcile_after_s)
        # Files whose records another node purged or pruned (every ten reconcile bounds).
        self.orphans = None if artifacts_dir is None else OrphanFiles(
            artifacts_dir, self.journal, every_s=10 * settings.reconcile_after_s,
            min_age_s=settings.reconcile_after_s)
        self._loops: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self.ledger.open()
        try:
            await self.engine.start()
        except BaseException:  # the pool closed, not left pending behind the error
            await self.ledger.close()
            raise
        try:  # a keyring that is not the submitters' reads nothing: said now, in a sentence
            await check_keyring(self.journal)
        except BaseException:
            await self.engine.close(grace_s=0)
            await self.ledger.close()
            raise
        await self._beat()
        loop = asyncio.get_running_loop()
        # Renewed from a thread: a skill blocking this loop does not stop it (renewer.py).
        self.renewer = LeaseRenewer(self.leases, url=self.ledger.url,
                                    worker_id=self.ledger.worker_id,
                                    lease_s=self.settings.lease_s,
                                    heartbeat_s=self.settings.heartbeat_s,
                                    queues=",".join(self.queues), loop=loop)
        self.renewer.start()
        self._loops = [loop.create_task(self._sweep_loop())]

    async def close(self, *, grace_s: float) -> None:
        for t in self._loops:
            t.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self.engine.close(grace_s=grace_s)  # its last runs' leases still renewed
        if self.renewer is not None:
            await asyncio.to_thread(self.renewer.stop)
        with contextlib.suppress(SkillExecError):
            await self.ledger.heartbeat(hostname=socket.gethostname(), pid=os.getpid(),
                                        queues=",".join(self.queues),
                                        held=list(self.store.claims), stopping=True)
        await self.ledger.close()

    @property
    def cut_off(self) -> bool:
        """No lease renewal for half a lease: stop starting work (fence ourselves)."""
        renewed = self._renewed_mono if self.renewer is None else self.renewer.renewed_mono
        return time.monotonic() - renewed > self.settings.lease_s / 2

    @property
    def stalled(self) -> bool:
        """The loop has not run for half a lease (read from other threads): a claim sent
        now would wait for it, its lease running out unrenewed."""
        return self.renewer is not None and \
            time.monotonic() - self.renewer.loop_seen_mono > self.settings.lease_s / 2

    # -- deliveries -------------------------------------------------------------------------

    async def handle_many(self, task_ids: list[str], *, priority: int = 5,
                          queue: str | None = None,
                          sent: SentClaim | None = None) -> list[Delivery]:
        """One message's ids: those there is room for here are claimed (in one statement)
        and run side by side; the rest are published again (``priority``, ``queue``: the
        message's) for a worker with room. They were never claimed here, so nothing is
        lost or run twice: a failed publish leaves them to the reconciler. ``sent``: the
        claim of the message's one id, already on the wire (``early_ok``)."""
        if not all(valid_task_id(t) for t in task_ids):  # never sent to the database
            bad = [t for t in task_ids if not valid_task_id(t)]
            log.warning("a message named %d ids that are no task ids (%s); they are dropped",
                        len(bad), ", ".join(repr(t)[:40] for t in bad[:3]))
            task_ids = [t for t in task_ids if valid_task_id(t)]
            if not task_ids:
                return [Delivery("refused")]
        # Claimed for the queue it came from, which every republish of it goes back to.
        came = queue if queue is not None else self.queues[0]
        if sent is not None:
            self.held += 1
            return [await self._held(sent.task_id, came, sent)]
        if not (self.stopping or self.cut_off):  # else each is requeued with the message
            take = self.room(len(task_ids))
            for task_id in task_ids[take:]:
                self.publish(task_id, priority, queue)
            self.metrics.handed_back.inc(len(task_ids) - take)
            task_ids = task_ids[:take]
        self.held += len(task_ids)
        if len(task_ids) == 1:
            return [await self._held(task_ids[0], came)]
        return list(await asyncio.gather(*(self._held(t, came) for t in task_ids)))

    def room(self, offered: int) -> int:
        """How many of a message's ``offered`` ids to take: the free slots plus the tasks
        that would start within ``claim_ahead_s`` behind the running ones (by the mean time
        a task held a slot here; none before one has ended), and at least one, so that a
        message is never bounced unclaimed between full workers (each Celery thread holds
        one message: the excess is bounded by the threads)."""
        ahead = 0
        if self.task_s is not None:
            ahead = int(min(self.slots * self.settings.claim_ahead_s / max(self.task_s, 1e-4),
                            1_000_000))
        return min(offered, max(1, self.slots + ahead - self.held))

    @property
    def early_ok(self) -> bool:
        """Whether a message's lone id may be claimed as the message arrives (by the thread
        that received it, ``EarlyClaims``): room for it here, and not stopping. Read from
        that thread: a flag that turns meanwhile only means that a task claimed just before
        the turn runs here (``handle``), as one claimed just before would."""
        return not (self.stopping or self.cut_off or self.stalled) and self.held < self.slots

    async def _held(self, task_id: str, queue: str, sent: SentClaim | None = None
                    ) -> Delivery:
        try:
            return await self.handle(task_id, sent, queue=queue)
        finally:
            self.held -= 1

    def _learned(self, result: ExecutionResult) -> None:
        wall_ms = result.metrics.get("wall_ms")
        if isinstance(wall_ms, int | float):
            s = wall_ms / 1000.0
            self.task_s = s if self.task_s is None else self.task_s + 0.2 * (s - self.task_s)

    # -- one delivery -------------------------------------------------------------------------

    async def handle(self, task_id: str, sent: SentClaim | None = None, *,
                     queue: str | None = None) -> Delivery:
        """One task id of a message from ``queue`` (None: this worker's first)."""
        got: tuple[Claim, StoredTask] | None = None
        asked_mono = time.monotonic() if sent is None else sent.sent_mono
        try:
            if sent is not None:  # claimed on arrival: what it won runs, stopping or not
                self.metrics.early.inc()
                early = await sent.answer()
                if early is not None and self.store.folded is not None:
                    got = decoded(early[0], early[1], self.store.folded.codec)
            if got is None:
                if self.stopping:
                    return Delivery("requeue")
                if self.cut_off:
                    await asyncio.sleep(1.0)  # not a hot loop of deliveries handed back
                    return Delivery("requeue")
                got = await self._claim_seen(task_id, queue or self.queues[0])
        except Unreadable as exc:
            return await self._unreadable(exc)
        except (SkillExecError, psycopg.Error, OSError) as exc:
            error = exc if isinstance(exc, SkillExecError) else unavailable(exc)
            if not error.retryable:  # the same claim would fail again: not a hot loop
                log.warning("task %s: cannot be claimed (%s); its message is dropped",
                            task_id, error)
                return Delivery("refused")
            log.warning("task %s: cannot claim now (%s); the message goes back", task_id,
                        error)
            await asyncio.sleep(REQUEUE_PAUSE_S)  # not a hot loop while the database is away
            return Delivery("requeue")
        if got is None:  # a duplicate, or a task another worker holds or ended
            self.metrics.refused.inc()
            return Delivery("refused")
        claim, st = got
        if time.monotonic() - asked_mono > self.settings.lease_s / 2:
            # Its answer waited for this loop: the lease may have run out meanwhile.
            try:
                again = await self.leases.still_ours(claim)
            except SkillExecError as exc:
                log.warning("task %s: its claim cannot be checked now (%s); the message "
                            "goes back", task_id, exc)
                return Delivery("requeue")
            if again is None:
                self.metrics.refused.inc()
                return Delivery("refused")
            claim = again
        r = st.request
        self.metrics.claimed.inc()
        self.store.claims[task_id] = claim
        self.idempotent[task_id] = r.idempotent
        self.leases.timeouts[task_id] = r.timeout_s or 0.0
        try:
            if (late := past_deadline(st, time.time())) is not None:
                await self.engine.claimed.end(st, late)  # its caller has given up on it
            elif st.cancel_requested:
                await self.engine.claimed.end(st, CancelledError("the task was cancelled").info,
                                              status=TaskStatus.CANCELLED)
            elif not r.idempotent and st.status in _STARTED:
                # It began somewhere and its claim was lost (PostgreSQL crashed before the
                # claim's commit reached disk): never run it a second time.
                await self.engine.claimed.end(st, interrupted_info(task_id, r.skill_id))
            elif self.stopping:  # won as the worker stopped (claimed on arrival)
                await hand_back_unstarted(self, claim, st, Unstarted.GIVEN_BACK)
            else:
                result = await self.engine.claimed.run(st)
                if isinstance(result, Unstarted):  # the skill never ran here
                    await hand_back_unstarted(self, claim, st, result)
                    return Delivery("ran")
                self.metrics.finished.labels(result.status.value).inc()
                self._learned(result)
        finally:
            self.idempotent.pop(task_id, None)
            self.leases.timeouts.pop(task_id, None)
        return Delivery("ran")

    async def _unreadable(self, exc: Unreadable) -> Delivery:
        """A task this worker cannot read: its claim given back (under a new fence, for a
        worker that can read it: the reconciler publishes it again after
        ``reconcile_after_s``) and the message dropped."""
        self.unreadable.add(exc.task_id)
        if exc.claim is not None:
            with contextlib.suppress(SkillExecError):
                await self.ledger.release(exc.claim)
        log.warning("task %s: this worker cannot read it (%s); its message is dropped, and "
                    "the reconciler publishes it again within reconcile_after_s for a worker "
                    "that can", exc.task_id, exc.error)
        self.metrics.refused.inc()
        return Delivery("refused")

    async def _claim_seen(self, task_id: str, queue: str) -> tuple[Claim, StoredTask] | None:
        """The claim; for a task the journal does not hold yet, tried again for a bounded
        time: an ``execute``'s task is published while its submission's commit is on the
        wire (RemoteEnqueue.enqueue), so its message may overtake its row. Past the bound
        the message is dropped: the submission never committed (nobody was told of it),
        or, committed later still, the reconciler publishes it."""
        for pause in (*_UNSEEN_PAUSES_S, None):
            got = await self._claim(task_id, queue)
            if got is _AGAIN:  # the row landed between the claim and the read
                got = await self._claim(task_id, queue, seen=True)
            if not isinstance(got, _Absent):
                return got
            if pause is None or self.stopping:
                log.warning("task %s: not in the journal; its message is dropped (a "
                            "task journaled later is published again by the reconciler)",
                            task_id)
                return None
            self.metrics.unseen.inc()
            await asyncio.sleep(pause)
        return None

    async def _claim(self, task_id: str, queue: str, *, seen: bool = False,
                     ) -> tuple[Claim, StoredTask] | _Absent | None:
        """The claim and the task's request; None: not to be run here (a duplicate, held
        by another, ended); ``_ABSENT``: the journal does not hold the task; ``_AGAIN``:
        it did not at the claim, it does now. ``seen``: the journal held it before.
        ``queue``: the delivery's, kept in the claim for what publishes it again."""
        folded = self.store.folded
        if folded is not None:  # one statement claims and reads the request
            got = await self.ledger.claim_request(task_id, queue=queue)
            if got is not None:
                return decoded(got[0], got[1], folded.codec)
            if seen:
                return None
            # Refused: read why. A message delivered twice is rare; the case to tell apart
            # is a row not there yet (an execute()'s), or not when the claim looked.
            try:
                there = await self.journal.get_request(task_id) is not None
            except SkillExecError as exc:
                if not unreadable_error(exc):
                    raise
                there = True
            return _AGAIN if there else _ABSENT
        try:
            st = await self.journal.get_request(task_id)
        except SkillExecError as exc:
            if unreadable_error(exc):
                raise Unreadable(task_id, None, exc) from exc
            raise
        if st is None:
            return _ABSENT
        if st.status.terminal:
            return None
        r = st.request
        claim = await self.ledger.claim(task_id, idempotent=r.idempotent,
                                        priority=r.priority, queue=queue)
        return None if claim is None else (claim, st)

    # -- liveness and recovery -----------------------------------------------------------------

    async def _beat(self) -> None:
        await self.ledger.heartbeat(hostname=socket.gethostname(), pid=os.getpid(),
                                    queues=",".join(self.queues),
                                    held=list(self.store.claims), stopping=self.stopping)
        self._renewed_mono = time.monotonic()

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                await self.sweep()
            except SkillExecError as exc:
                log.warning("sweep failed: %s", exc)
            except Exception:  # a bug: said, and the next sweep tries again (never silent)
                log.exception("sweep failed")

    async def sweep(self) -> None:
        """Reaper and reconciler (only the leader's sweep does anything: ``Sweeper``)."""
        await self.sweeper.sweep()

    def publish(self, task_id: str, priority: int, queue: str | None) -> None:
        try:
            self.publisher.publish(task_id, priority=priority, queue=queue)
        except Exception as exc:  # the next sweep publishes it again
            log.warning("task %s: publish failed (%s)", task_id, exc)

    # -- shutdown ----------------------------------------------------------------------------

    def drain(self) -> list[str]:
        """SIGTERM: no new claims; what waits for a slot here goes back now (``handback``),
        not started in the grace period, nor cancelled at its end."""
        self.stopping = True
        return give_back_waiting(self)

    async def hand_back(self) -> list[str]:
        """After the grace period: give back what still runs here (``shutdown``)."""
        return await hand_back_running(self)
