"""FencedStore: a worker's journal, whose terminal writes only the fence holder may make.

Every method but ``finished`` goes straight to the journal. ``finished`` for a task this
worker claimed first checks its fence in the ledger (the claim becomes ``done`` there), and
writes the journal's guarded terminal row only if that succeeded: a worker the reaper gave
up on, or one that handed the task back at shutdown, can no longer end it. When the journal
is the PostgreSQL database that holds the ledger, both are one statement of the journal's
group commit (``PostgresStore.finished_fenced``): no round trip of its own per task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, cast

from skillexec.distributed.ledger import Claim, Ledger
from skillexec.errors import SkillExecError
from skillexec.storage.codec import Codec
from skillexec.storage.store import TaskStore
from skillexec.task import ExecutionResult, ExecutionTask, TaskStatus

__all__ = ["FencedStore"]

log = logging.getLogger("skillexec.distributed")

_T = TypeVar("_T")
_FIRST_PAUSE_S = 0.25  # before an end the journal failed is written again; doubled each time


class _FoldedJournal(Protocol):
    url: str

    @property
    def codec(self) -> Codec: ...

    def finished_fenced(self, task: ExecutionTask, result: ExecutionResult,
                        history: list[dict[str, Any]], *, fence: int,
                        output_json: bytes | None = None) -> Awaitable[bool]: ...


class FencedStore:
    def __init__(self, inner: TaskStore, ledger: Ledger) -> None:
        self.inner = inner
        self.ledger = ledger
        # The fence check folded into the terminal write: only where one statement can see
        # both tables (the same database).
        self.folded: _FoldedJournal | None = None
        if hasattr(inner, "finished_fenced") and getattr(inner, "url", None) == ledger.url:
            self.folded = cast(_FoldedJournal, inner)
        self.claims: dict[str, Claim] = {}  # task id -> the claim this worker holds
        self.fenced_out = 0  # terminal writes refused: another holds the task now

    def finished(self, task: ExecutionTask, result: ExecutionResult,
                 history: list[dict[str, Any]], *,
                 output_json: bytes | None = None) -> Awaitable[None]:
        claim = self.claims.get(task.task_id)
        if claim is None:  # not claimed here (the reaper already closed its claim)
            return self.inner.finished(task, result, history, output_json=output_json)
        used = [claim]  # and those it is taken back as while its end is retried
        if self.folded is not None:
            # Queued now, not from a task a turn later: the end joins the group commit of
            # the records made with it (the audit's ``task.finished``), one fsync for both.
            held = self.folded.finished_fenced(task, result, history, fence=claim.fence,
                                               output_json=output_json)
            ending = self._folded(used, task, result, history, output_json, held)
        else:
            ending = self._fenced(claim, task, result, history, output_json)
        return asyncio.ensure_future(self._held_until_ended(used, ending))

    async def _held_until_ended(self, used: list[Claim], ending: Awaitable[None]) -> None:
        """The claim stays in ``claims`` (its lease renewed) until the end is written or
        refused: popped before, a failed write left the lease to run out under a finished
        run, and the reaper ended it ``interrupted`` or ran it again."""
        try:
            await ending
        finally:
            if self.claims.get(used[0].task_id) in used:  # not a new claim of a new run
                del self.claims[used[0].task_id]

    async def _again(self, task_id: str, write: Callable[[], Awaitable[_T]],
                     first: Awaitable[_T] | None = None) -> _T:
        """``write``'s answer, asked again while the journal fails, within a lease (the
        claim is renewed meanwhile): a database that is back in time records the end of a
        run that finished. Past it, the failure is the caller's and the reaper decides."""
        give_up = time.monotonic() + self.ledger.lease_s
        pause = _FIRST_PAUSE_S
        attempt = write() if first is None else first
        while True:
            try:
                return await attempt
            except SkillExecError as exc:
                if not exc.retryable or time.monotonic() + pause > give_up:
                    raise
                log.warning("task %s: the journal could not record its end, trying again in "
                            "%g s: %s", task_id, pause, exc)
            await asyncio.sleep(pause)
            pause *= 2
            attempt = write()

    def _current(self, used: list[Claim]) -> Claim:
        """The claim as held now: a lease taken back while the end was retried has a new
        fence (``leases.HeldLeases``)."""
        claim = self.claims.get(used[0].task_id) or used[-1]
        if claim not in used:
            used.append(claim)
        return claim

    async def _folded(self, used: list[Claim], task: ExecutionTask, result: ExecutionResult,
                      history: list[dict[str, Any]], output_json: bytes | None,
                      held: Awaitable[bool]) -> None:
        folded = self.folded
        assert folded is not None
        if await self._again(task.task_id, lambda: folded.finished_fenced(
                task, result, history, fence=self._current(used).fence,
                output_json=output_json), held):
            return
        again = await self._retaken(task, result)
        if again is None or not await self._again(task.task_id, lambda: folded.finished_fenced(
                task, result, history, fence=again.fence, output_json=output_json)):
            self._refused(used[-1], result)

    async def _fenced(self, claim: Claim, task: ExecutionTask, result: ExecutionResult,
                      history: list[dict[str, Any]], output_json: bytes | None) -> None:
        try:
            holder = await self.ledger.finish(claim)
        except SkillExecError:
            holder = False
            log.warning("task %s: the ledger is unreachable, its end is not written (the "
                        "reaper will decide)", task.task_id)
        if not holder:
            again = await self._retaken(task, result)
            try:
                holder = again is not None and await self.ledger.finish(again)
            except SkillExecError:
                holder = False
        if not holder:
            self._refused(claim, result)
            return
        # The claim is ``done`` now: only the journal's (guarded) write is made again.
        await self._again(task.task_id, lambda: self.inner.finished(
            task, result, history, output_json=output_json))

    async def _retaken(self, task: ExecutionTask, result: ExecutionResult) -> Claim | None:
        """A completed run whose end was refused: its lease had run out here (the reaper
        queued the task again). An idempotent task's result is kept, not dropped and the
        task run again, if nobody has claimed it since: the claim, taken back."""
        if result.status is not TaskStatus.SUCCEEDED or not task.request.idempotent:
            return None
        try:
            again = await self.ledger.retake(task.task_id)
        except SkillExecError:
            return None
        if again is not None:
            log.warning("task %s: its lease had run out before its end; nobody had claimed "
                        "it since, so its result is kept (fence %d)", task.task_id,
                        again.fence)
        return again

    def _refused(self, claim: Claim, result: ExecutionResult) -> None:
        self.fenced_out += 1
        log.warning("task %s: fence %d is no longer current; its end (%s) is dropped",
                    claim.task_id, claim.fence, result.status.value)

    # -- the rest, as the journal does it ----------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # Every other part of the store interface (tasks, events, artifacts, the cache, keys,
        # the audit log, purge), whatever the journal grows: the journal's own.
        return getattr(self.inner, name)

    def journal(self) -> TaskStore:
        """This store, typed as the journal interface it fulfils (through ``__getattr__``)."""
        return cast(TaskStore, self)
