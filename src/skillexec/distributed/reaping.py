"""The leader's sweep in the ledger (``Ledger.sweep``): the reaper and the reconciler.

The reaper takes back the claims whose lease ran out. Most were running when their worker
stopped: an idempotent task is queued again (published under a new fence) until it has lost
``MOST_LOST`` workers, a non-idempotent one ends ``interrupted`` (never run twice). But a
worker claims a little ahead of its slots (``claim_ahead_s``), and a task that waited there
never started: failing it blamed it for nothing. So a non-idempotent claim whose journal
row is still ``queued`` (its start is journaled durably before its skill runs) is queued
again, uncounted, once its holder is gone: its worker's heartbeat stopped for a lease (it
died, or is cut off: then it gave back what waited, ``HeldLeases.fence_self``), or it is
stopping (it gave back what waited at the signal). A holder that still beats but no longer
renews (its loop stuck) might yet start it: that claim is reaped as a started one. An
idempotent task's start is not awaited before it runs (a crash may lose it), so its row
cannot tell: it is queued again all the same, and its lost lease counted.

The reconciler publishes again the queued tasks nobody claimed for a bound, backing off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import psycopg

__all__ = ["MOST_LOST", "Candidate", "Expired", "NeverStarted", "Swept", "sweep_in"]

# An idempotent task whose lease ran out this many times ends ``worker_lost``.
MOST_LOST = 3
Candidate = tuple[str, bool, int, str]  # a queued task's id, idempotent, priority, queue
# Of some task ids, those the journal holds as never started (``queued``).
NeverStarted = Callable[[list[str]], Awaitable[set[str]]]

# Expired non-idempotent claims whose holder is gone (its row not seen for a lease, or
# stopping): those that may be queued again unstarted.
_HOLDER_GONE = """
SELECT c.task_id FROM skillexec_claims c
LEFT JOIN skillexec_workers w ON w.worker_id = c.worker_id
WHERE c.state = 'running' AND c.lease_until < now() AND NOT c.idempotent
  AND (w.worker_id IS NULL OR w.stopping OR w.seen_at < now() - make_interval(secs => %s))
"""
# (The SET's worker_id on the right is the row's before the update: the one that lost it.)
# %(u)s: the ids that never started (the journal's word, their holder gone).
_REAP = f"""
UPDATE skillexec_claims SET
    state = CASE WHEN task_id = ANY(%(u)s::text[]) OR (idempotent AND lost + 1 < {MOST_LOST})
                 THEN 'queued' ELSE 'done' END,
    fence = fence + 1, worker_id = NULL, lease_until = NULL, published_at = now(),
    lost = CASE WHEN task_id = ANY(%(u)s::text[]) THEN lost ELSE lost + 1 END,
    lost_on = CASE WHEN task_id = ANY(%(u)s::text[]) THEN lost_on
                   ELSE lost_on || coalesce(worker_id, '?') END
WHERE state = 'running' AND lease_until < now()
RETURNING task_id, idempotent, priority, queue, state, lost_on, task_id = ANY(%(u)s::text[])
"""
_KNOWN = "SELECT task_id, state FROM skillexec_claims WHERE task_id = ANY(%s)"
# A queued task nobody claimed: record that it was published again, a bound after it was
# published, then 1, 2, 4, 8, 16 bounds after each republish (until it is claimed). The
# reconciler cannot tell a message waiting behind a backlog from a lost one; once per bound,
# a backlog longer than the bound was published again whole, every bound (a 10-minute one:
# 20 copies of each task at 30 s, each a delivery and a refused claim, on a saturated
# cluster). Backing off, a lost message still goes again within a bound, and a backlog costs
# a few copies (5 in 10 minutes).
_MOST_DOUBLINGS = 4
_REPUBLISH = f"""
INSERT INTO skillexec_claims AS c (task_id, fence, state, idempotent, priority, queue,
                                  published_at)
VALUES (%s, 0, 'queued', %s, %s, %s, now())
ON CONFLICT (task_id) DO UPDATE SET published_at = now(), republished = c.republished + 1
WHERE c.state = 'queued' AND c.published_at < now() - make_interval(
    secs => %s * (2 ^ least(c.republished, {_MOST_DOUBLINGS})))
RETURNING task_id
"""


@dataclass(frozen=True, slots=True)
class Expired:
    """A claim whose lease ran out, taken back by the reaper: queued again (``requeued``)
    or not (a non-idempotent task, or one whose workers' leases on it ran out ``MOST_LOST``
    times); ``lost_on``: those workers, oldest first; ``unstarted``: it never started
    (queued again, its holder not counted)."""

    task_id: str
    idempotent: bool
    priority: int
    queue: str
    requeued: bool = True
    lost_on: tuple[str, ...] = ()
    unstarted: bool = False


class Swept(NamedTuple):
    """What one sweep found: the expired claims taken back, the queued tasks to publish
    again, and which of the candidates the ledger knows as ended (``done``)."""

    expired: list[Expired]
    again: list[str]
    done: set[str]


async def sweep_in(conn: psycopg.AsyncConnection[Any], candidates: list[Candidate], *,
                   lease_s: float, reconcile_after_s: float,
                   unstarted: NeverStarted | None) -> Swept:
    """The sweep, in the leader's transaction on ``conn`` (``unstarted`` None: every
    expired claim is reaped as a started one)."""
    never: list[str] = []
    if unstarted is not None:
        cur = await conn.execute(_HOLDER_GONE, (lease_s,))
        gone = [str(r[0]) for r in await cur.fetchall()]
        never = sorted(await unstarted(gone)) if gone else []
    cur = await conn.execute(_REAP, {"u": never})
    expired = [Expired(r[0], bool(r[1]), int(r[2]), r[3], r[4] == "queued", tuple(r[5]),
                       bool(r[6])) for r in await cur.fetchall()]
    cur = await conn.execute(_KNOWN, ([c[0] for c in candidates],))
    states = {r[0]: r[1] for r in await cur.fetchall()}
    again: list[str] = []
    for task_id, idempotent, priority, queue in candidates:
        if states.get(task_id, "queued") != "queued":
            continue
        cur = await conn.execute(_REPUBLISH, (task_id, idempotent, priority, queue,
                                              reconcile_after_s))
        if await cur.fetchone() is not None:
            again.append(task_id)
    return Swept(expired, again, {t for t, s in states.items() if s == "done"})
