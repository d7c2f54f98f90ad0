"""Handing back a claimed task that did not start on this worker.

Two reasons: its skill is not on this worker (a node started with another skills folder),
or the journal could not record the start of a task that is not idempotent (the connection
lost as it was written). Either way the skill never ran here, so the task is safe to give
to another claim: released in the ledger under a new fence (``queued``, so the fence still
decides who runs it) and published again after a pause that grows with each hand-back, so
that a worker able to run it may take it. The ledger counts the hand-backs: at the bound
the task ends, its error naming why, instead of going round forever.

A third: the worker gave back a claim that waited for a slot here (claimed ahead), because
it is stopping (SIGTERM) or cut off from the ledger (``give_back_waiting``). Nothing is
wrong with the task: it is released and published again at once, uncounted. Had it waited
to start, the worker's end would have failed it: ``cancelled`` after the grace period, or,
killed, ``interrupted`` by the reaper, though it never ran.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING

from skillexec.distributed.ledger import Claim
from skillexec.distributed.node_types import Unstarted
from skillexec.errors import ErrorInfo, ErrorType, SkillExecError
from skillexec.storage.store import StoredTask

if TYPE_CHECKING:
    from skillexec.distributed.node import WorkerNode

__all__ = ["MOST_HAND_BACKS", "hand_back_unstarted"]

log = logging.getLogger("skillexec.distributed")
MOST_HAND_BACKS = 8  # then the task ends: no worker could start it
_LEDGER_TRIES = 3  # the ledger itself may be what failed a moment ago


async def hand_back_unstarted(node: WorkerNode, claim: Claim, st: StoredTask,
                              why: Unstarted) -> None:
    task_id, r = claim.task_id, st.request
    # Not renewed from now on: a claim going back is not one whose lease was lost (which
    # the node would take back, HeldLeases).
    node.store.claims.pop(task_id, None)
    if why is Unstarted.GIVEN_BACK:
        await _give_back(node, claim, r.priority)
        return
    try:
        given = await _released(node, claim)
    except SkillExecError as exc:
        # Its lease runs out and the reaper decides (an idempotent task is published
        # again; another ends ``interrupted``, never run twice).
        log.warning("task %s: %s, and the ledger could not take it back (%s); the reaper "
                    "will once its lease runs out", task_id, why.value, exc)
        return
    if given is not None:
        count, queue = given  # the task's queue: a worker there may have its skill
        node.metrics.handed_back.inc()
        # Before the n-th publish: hand_back_pause_s * 2^(n-1) (default 0.25 … 32 s, 64 in
        # all), jittered by ±50 %: without it, Redis gave the task back to this worker every
        # time. Kombu's BRPOP times out each second and is sent again, so a whole-second pause
        # published just before this worker's BRPOP ran out: the longest waiter, which Redis
        # serves first, was this worker again.
        pause_s = node.settings.hand_back_pause_s * 2 ** (count - 1) * random.uniform(0.5, 1.5)
        log.warning("task %s: %s (skill %r %s); handed back for another worker (%d of %d), "
                    "published again in %.2f s", task_id, why.value, r.skill_id,
                    r.skill_version, count, MOST_HAND_BACKS, pause_s)
        asyncio.get_running_loop().call_later(pause_s, node.publish, task_id, r.priority,
                                              queue)
        return
    state = await node.ledger.state(task_id)
    if state != ("running", claim.fence):  # no longer ours: its holder decides
        return
    node.store.claims[task_id] = claim  # still ours: the end below is fenced
    error = _ended(task_id, r.skill_id, r.skill_version, why)
    log.warning("task %s: %s", task_id, error.message)
    await node.engine.claimed.end(st, error)


def give_back_waiting(node: WorkerNode) -> list[str]:
    """Take every claimed task that still waits for a slot here out of the engine's queue,
    so that it cannot start here any more; their deliveries give their claims back
    (``_give_back``). The ids taken out."""
    return [t for t in list(node.idempotent) if node.engine.claimed.give_back(t)]


async def _give_back(node: WorkerNode, claim: Claim, priority: int) -> None:
    try:
        queue = await node.ledger.release(claim)
    except SkillExecError as exc:
        # Its lease runs out and the reaper publishes it again: its journal row says it
        # never started, and this worker can no longer start it.
        log.warning("task %s: given back unstarted, but the ledger cannot take it now (%s); "
                    "the reaper will once its lease runs out", claim.task_id, exc)
        return
    if queue is not None:  # else no longer ours: the reaper or another claim has it
        node.metrics.handed_back.inc()
        node.publish(claim.task_id, priority, queue)


async def _released(node: WorkerNode, claim: Claim) -> tuple[int, str] | None:
    for attempt in range(_LEDGER_TRIES):
        try:
            return await node.ledger.hand_back(claim, most=MOST_HAND_BACKS)
        except SkillExecError:
            if attempt == _LEDGER_TRIES - 1:
                raise
            await asyncio.sleep(0.5)
    return None


def _ended(task_id: str, skill_id: str, version: str, why: Unstarted) -> ErrorInfo:
    if why is Unstarted.NO_SKILL:
        return ErrorInfo(
            type=ErrorType.DEPENDENCY, code="skill_not_on_workers", retryable=False,
            message=f"no worker that claimed task {task_id} has skill {skill_id!r} "
                    f"(version {version}): it was handed back {MOST_HAND_BACKS} times; start "
                    "a worker whose --skills-dir holds it, and submit again",
            details={"skill_id": skill_id, "skill_version": version})
    return ErrorInfo(
        type=ErrorType.RESOURCE, code="journal_write_failed", retryable=True,
        message=f"the journal could not record the start of task {task_id} (skill "
                f"{skill_id!r}) on any worker that claimed it ({MOST_HAND_BACKS} times); "
                "it never ran")
