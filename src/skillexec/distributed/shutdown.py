"""What a worker gives back when it stops (SIGTERM: Celery's warm shutdown).

At the signal the claimed tasks still waiting for a slot here are given back at once
(``WorkerNode.drain``): released and published again, whatever their skill, since they
never started. After the grace period (``shutdown_grace_s``), what still runs is: an
idempotent task's claim is released under a new fence and its id published again onto the
task's queue (the claim row's), so that another worker runs it; it is cancelled here, its
end refused. A non-idempotent one is cancelled and ends ``cancelled``: it never runs twice.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from skillexec.distributed.handback import give_back_waiting
from skillexec.errors import SkillExecError

if TYPE_CHECKING:
    from skillexec.distributed.node import WorkerNode

__all__ = ["hand_back_running"]


async def hand_back_running(node: WorkerNode) -> list[str]:
    """Give back what still runs on ``node``; the ids published again."""
    node.stopping = True
    waiting = set(give_back_waiting(node))  # unstarted: released as they come back
    handed: list[str] = []
    for task_id, idempotent in list(node.idempotent.items()):
        if task_id in waiting:
            continue
        claim = node.store.claims.get(task_id)
        if idempotent and claim is not None:
            with contextlib.suppress(SkillExecError):
                if (queue := await node.ledger.release(claim)) is not None:
                    st = await node.journal.get_request(task_id)
                    node.publish(task_id, st.request.priority if st else 5, queue)
                    handed.append(task_id)
        await node.engine.cancel(task_id, wait_s=0)  # their ends: the engine's close
    return handed
