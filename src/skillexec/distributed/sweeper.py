"""The sweep every worker runs (only the leader's, by the ledger's advisory lock, acts):
the reaper's expired leases, the reconciler's queued tasks nobody claimed, the ends the
journal missed, and the cancellations asked while a task waited in the broker.

The reconciler reads the unfinished tasks of every node that published to a broker queue
(``PostgresStore.reconcilable``; ids, priorities and queues, never a payload), a page at a
time in creation order, so that a task a submitter on another machine published, its message
lost, is published again whichever worker leads, onto the queue it was published to.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from skillexec.distributed.ledger import MOST_LOST, Expired
from skillexec.distributed.node_types import interrupted_info
from skillexec.errors import ErrorInfo, ErrorType, SkillExecError
from skillexec.storage.store import TaskStore
from skillexec.task import TaskStatus

if TYPE_CHECKING:
    from skillexec.distributed.node import WorkerNode

__all__ = ["PAGE", "Sweeper", "worker_lost_info"]

log = logging.getLogger("skillexec.distributed")
PAGE = 1000  # unfinished tasks the reconciler reads per sweep (the next sweep goes on)
Candidate = tuple[str, bool, int, str]  # task id, idempotent, priority, queue


class Sweeper:
    def __init__(self, node: WorkerNode) -> None:
        self.node = node
        self._reconciled_mono = 0.0
        self._after: tuple[float, str] = (0.0, "")  # where the reconciler's last page ended
        self._unrecorded: set[str] = set()  # ended in the ledger, not in the journal, lately

    async def sweep(self) -> None:
        """Reaper and reconciler (only the leader's sweep does anything)."""
        node = self.node
        candidates: list[Candidate] = []
        now = time.monotonic()
        # Reading the unfinished tasks is the sweep's cost: only twice per bound.
        if now - self._reconciled_mono >= node.settings.reconcile_after_s / 2:
            self._reconciled_mono = now
            candidates = await self._candidates(time.time() - node.settings.reconcile_after_s)
        swept = await node.ledger.sweep(candidates,
                                        reconcile_after_s=node.settings.reconcile_after_s,
                                        unstarted=self._never_started)
        expired, again, done = swept.expired, swept.again, swept.done
        for e in expired:
            await self._expired(e)
        queue_of = {c[0]: (c[2], c[3]) for c in candidates}
        for task_id in again:
            node.metrics.republished.inc()
            priority, queue = queue_of[task_id]
            node.publish(task_id, priority, queue)
        if candidates:
            # The ledger saw its end, the journal never did: at two readings half a bound
            # apart (a journal whose database is not the ledger's writes the end just
            # after the ledger's, and that end may be on its way).
            lately, self._unrecorded = self._unrecorded, done
            for task_id in done & lately:
                await self._end(task_id, functools.partial(_unrecorded_info, task_id))
        if expired or again:
            log.warning("sweep: %d expired leases taken back, %d queued tasks published again",
                        len(expired), len(again))
        await self._end_cancelled()
        if node.orphans is not None:  # every worker, its own files
            await node.orphans.sweep_if_due()

    async def _candidates(self, before: float) -> list[Candidate]:
        node = self.node
        journal: TaskStore = node.journal
        reconcilable = getattr(journal, "reconcilable", None)
        if reconcilable is None:  # the SQLite journal one host shares: every task in it
            return [(st.task_id, st.request.idempotent, st.request.priority, node.queues[0])
                    for st in await journal.unfinished() if st.request.created_at < before]
        rows = await reconcilable(before=before, after=self._after, limit=PAGE)
        # A full page: the next sweep reads on from its end; else from the oldest again.
        self._after = (rows[-1].created_at, rows[-1].task_id) if len(rows) == PAGE \
            else (0.0, "")
        return [(r.task_id, r.idempotent, r.priority, r.queue or node.queues[0])
                for r in rows]

    async def _never_started(self, task_ids: list[str]) -> set[str]:
        """Those whose journal row is still ``queued``: their skill never started (a
        non-idempotent task's start is journaled durably before it runs). One this worker
        cannot read counts as started: the reaper's old, safe side."""
        never: set[str] = set()
        for task_id in task_ids:
            try:
                info = await self.node.journal.get(task_id)
            except SkillExecError:
                continue
            if info is not None and info.status is TaskStatus.QUEUED:
                never.add(task_id)
        return never

    async def _expired(self, e: Expired) -> None:
        node = self.node
        if e.requeued:
            if e.unstarted:
                log.warning("task %s: its worker is gone and it never started there; "
                            "published again", e.task_id)
            node.metrics.reaped.labels("requeued").inc()
            node.publish(e.task_id, e.priority, e.queue)
            return
        node.metrics.reaped.labels("worker_lost" if e.idempotent else "interrupted").inc()
        node.store.claims.pop(e.task_id, None)  # the reaper's end, not a holder's
        if e.idempotent:  # its workers died running it, again and again: it ends
            await self._end(e.task_id, functools.partial(worker_lost_info, e.task_id,
                                                         lost_on=e.lost_on))
        else:
            await self._end(e.task_id, functools.partial(interrupted_info, e.task_id))

    async def _end(self, task_id: str, error: Callable[[str], ErrorInfo]) -> None:
        """End an unfinished task without running it (``error``: given its skill id). One
        this worker cannot read (another keyring) is left, said, for a worker that can:
        the rest of the sweep goes on."""
        node = self.node
        try:
            st = await node.journal.get_request(task_id)
        except SkillExecError as exc:
            log.warning("task %s: cannot be ended here: %s", task_id, exc)
            return
        if st is not None and not st.status.terminal:
            await node.engine.claimed.end(st, error(st.request.skill_id))

    async def _end_cancelled(self) -> None:
        """End the tasks whose cancellation was asked while they waited in the broker: a
        queued task is nobody's to see the request until a worker claims it (its turn
        behind a backlog, or the reconciler's publish). Each is claimed here (fenced: one
        worker wins, and none while a live lease holds it: its worker sees the request
        itself) and, its request seen, ended ``cancelled`` without running."""
        node = self.node
        if node.stopping or node.cut_off:
            return
        for task_id in await node.journal.cancel_requests():
            if task_id not in node.store.claims and task_id not in node.unreadable:
                await node.handle(task_id)


def _unrecorded_info(task_id: str, _skill_id: str) -> ErrorInfo:
    return ErrorInfo(type=ErrorType.EXECUTION, code="interrupted", retryable=False,
                     message=f"the worker ending task {task_id} stopped before the journal "
                             "recorded its result")


def worker_lost_info(task_id: str, skill_id: str, *, lost_on: tuple[str, ...]) -> ErrorInfo:
    return ErrorInfo(
        type=ErrorType.EXECUTION, code="worker_lost", retryable=False,
        message=f"task {task_id} (skill {skill_id!r}) lost its worker {len(lost_on)} times "
                f"while it ran (on {', '.join(lost_on)}): its run may be what stops them (a "
                "crash, os._exit, the memory limit), so it is not run again",
        details={"workers": list(lost_on), "most_lost": MOST_LOST})
