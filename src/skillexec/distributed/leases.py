"""HeldLeases: a worker node's side of its lease renewals (``renewer.LeaseRenewer``).

What to renew is what the node holds; what the database answered comes back on the
node's loop. A held claim that was not renewed is no longer this worker's: its lease ran
out (the database unreachable for longer than a lease, or a loop stuck past its bound),
and the reaper took it back. If nobody has claimed it since, it is taken back at once, so
the run going on here keeps its end; else an idempotent run is stopped here (another
worker runs it, and this one's end would be refused), and a non-idempotent one (ended
``interrupted`` by the reaper, never run twice) is left to finish, its end unrecorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from skillexec.distributed.handback import give_back_waiting
from skillexec.distributed.ledger import Claim
from skillexec.errors import SkillExecError

if TYPE_CHECKING:
    from skillexec.distributed.node import WorkerNode

__all__ = ["HeldLeases"]

log = logging.getLogger("skillexec.distributed")


class HeldLeases:
    def __init__(self, node: WorkerNode) -> None:
        self.node = node
        self.timeouts: dict[str, float] = {}  # claimed here: task id -> attempt timeout (s)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- read by the renewer's thread -----------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.node.stopping

    def leases(self) -> dict[str, Claim]:
        return dict(self.node.store.claims)

    def stall_bound_s(self) -> float:
        """The longest attempt held here may run, and a lease: a loop that has not run for
        longer is stuck (a skill blocking it for good), and its tasks are for others."""
        return max(list(self.timeouts.values()), default=0.0) + self.node.settings.lease_s

    # -- on the node's loop ---------------------------------------------------------------

    def on_renewed(self, asked: dict[str, Claim], renewed: set[str]) -> None:
        store = self.node.store
        lost = [c for t, c in asked.items() if t not in renewed and store.claims.get(t) is c]
        if lost and not self.node.stopping:  # stopping: handed back on purpose
            self._spawn(self._lost(lost))

    def on_beat_failed(self, error: str) -> None:
        log.warning("heartbeat failed: %s", error)
        if self.node.cut_off:
            self._spawn(self.fence_self())

    async def fence_self(self) -> None:
        """Cut off from the ledger: our idempotent runs will be run elsewhere; stop them
        (their ends cannot be written anyway). Non-idempotent ones run on: they never run
        twice, and the reaper ends them ``interrupted`` if we stay away."""
        node = self.node
        # What waits for a slot here must not start: its lease runs out, and the reaper
        # publishes it again (never started), for a worker that may run it.
        for task_id in give_back_waiting(node):
            log.warning("task %s: cut off from the ledger, given back unstarted", task_id)
        for task_id, idempotent in list(node.idempotent.items()):
            if idempotent:
                log.warning("task %s: cut off from the ledger, cancelling it here", task_id)
                await node.engine.cancel(task_id, wait_s=0)  # (the next one waits not)

    async def still_ours(self, claim: Claim) -> Claim | None:
        """A claim whose answer came after half a lease (the loop was busy): renewed if it
        is still this worker's, taken back if the reaper queued it and nobody took it
        since; None: another's now (or ended), not to run here."""
        if claim.task_id in await self.node.ledger.renewed([claim]):
            return claim
        return await self.node.ledger.retake(claim.task_id)

    async def _lost(self, claims: list[Claim]) -> None:
        node = self.node
        for claim in claims:
            task_id = claim.task_id
            try:
                again = await node.ledger.retake(task_id)
            except SkillExecError as exc:
                log.warning("task %s: its lease ran out, and it cannot be taken back now "
                            "(%s)", task_id, exc)
                continue
            if again is not None:
                if node.store.claims.get(task_id) is claim:
                    node.store.claims[task_id] = again
                log.warning("task %s: its lease had run out (this worker could not renew "
                            "it); nobody had claimed it since: taken back, fence %d",
                            task_id, again.fence)
            elif node.engine.claimed.give_back(task_id):  # another's now: not to start here
                log.warning("task %s: its lease ran out before it started here; another "
                            "worker runs it", task_id)
            elif node.idempotent.get(task_id):
                log.warning("task %s: its lease ran out and another worker claimed it: "
                            "cancelling it here", task_id)
                await node.engine.cancel(task_id, wait_s=0)  # (lease renewal goes on)
            elif task_id in node.idempotent:
                log.warning("task %s: its lease ran out and the reaper ended it; it is not "
                            "idempotent, so it runs on here, its end unrecorded", task_id)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
