"""A node's claims and fence checks go to PostgreSQL in batches: one statement for all that
were asked while one was on the wire. A batch answers each item as a single statement
would: a stale fence in a batch is refused alone, a repeated id is won once, a batch racing
the reaper neither loses a task nor hands a non-idempotent one out again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from skillexec.distributed.batch import Batch
from skillexec.distributed.ledger import Claim, Ledger
from tests._distributed import database
from tests.conftest import arun


@pytest.fixture
def db() -> Iterator[str]:
    yield from database()


# -- Batch, alone ------------------------------------------------------------------------------

def test_asks_made_while_one_is_in_flight_go_together_in_order() -> None:
    flushed: list[list[int]] = []

    async def flush(items: list[int]) -> list[int]:
        flushed.append(items)
        await asyncio.sleep(0.01)
        return [i * 10 for i in items]

    async def go() -> list[int]:
        batch: Batch[int, int] = Batch(flush)
        first = asyncio.ensure_future(batch.ask(0))
        await asyncio.sleep(0.001)  # on the wire now
        rest = await asyncio.gather(*(batch.ask(i) for i in range(1, 5)))
        return [await first, *rest]

    assert arun(go()) == [0, 10, 20, 30, 40]
    assert flushed == [[0], [1, 2, 3, 4]]  # the first left at once, the rest waited for it


def test_a_failing_batch_is_tried_again_one_by_one_and_fails_only_the_bad_item() -> None:
    async def flush(items: list[int]) -> list[int]:
        await asyncio.sleep(0)
        if 3 in items:
            raise ValueError("three is bad")
        return items

    async def go() -> list[object]:
        batch: Batch[int, int] = Batch(flush)
        return list(await asyncio.gather(*(batch.ask(i) for i in range(5)),
                                         return_exceptions=True))

    got = arun(go())
    assert got[:3] == [0, 1, 2] and got[4] == 4
    assert isinstance(got[3], ValueError)


# -- the ledger's batches, on PostgreSQL ---------------------------------------------------------

def _ledger(url: str, worker: str, lease_s: float = 30.0) -> Ledger:
    return Ledger(url, worker_id=worker, lease_s=lease_s)


def test_a_batch_of_ends_with_one_stale_fence_refuses_only_that_one(db: str) -> None:
    async def go() -> tuple[list[bool], tuple[int, int], tuple[str, int] | None]:
        a, b = _ledger(db, "a", lease_s=0.3), _ledger(db, "b")
        await a.open()
        await b.open()
        try:
            claims = [await a.claim(f"t{i}", idempotent=True, priority=5, queue="q")
                      for i in range(4)]
            assert all(c is not None for c in claims)
            await asyncio.sleep(0.5)  # A's leases run out; B takes t2 over
            stolen = await b.claim("t2", idempotent=True, priority=5, queue="q")
            assert stolen == Claim("t2", 2)
            before = a.round_trips
            ends = await asyncio.gather(*(a.finish(c) for c in claims if c is not None))
            after = a.round_trips
            return (list(ends), (after[0] - before[0], after[1] - before[1]),
                    await b.state("t2"))
        finally:
            await a.close()
            await b.close()

    ends, (statements, items), t2 = arun(go())
    assert ends == [True, True, False, True]
    assert items == 4 and statements == 1  # asked in one turn of the loop: one statement
    assert t2 == ("running", 2)  # the new holder's claim is untouched


def test_a_message_delivered_twice_in_one_batch_is_claimed_once(db: str) -> None:
    async def go() -> list[Claim | None]:
        a = _ledger(db, "a")
        await a.open()
        try:
            return list(await asyncio.gather(*(
                a.claim(t, idempotent=True, priority=5, queue="q")
                for t in ("x", "y", "y", "z", "y"))))
        finally:
            await a.close()

    got = arun(go())
    assert got[0] == Claim("x", 1) and got[3] == Claim("z", 1)
    assert sorted(c is not None for c in (got[1], got[2], got[4])) == [False, False, True]


def test_a_claim_batch_racing_the_reaper_loses_nothing_and_never_reruns_once_tasks(
        db: str) -> None:
    """Tasks whose holder died (leases out): the reaper and another node's claim batches
    reach them at the same moment. Every idempotent task ends up held by the claimer, under
    a fence newer than the dead holder's; no non-idempotent task is handed out again."""
    async def go() -> tuple[dict[str, Claim | None], dict[str, tuple[str, int] | None]]:
        dead, reaper, claimer = (_ledger(db, "dead", lease_s=0.2), _ledger(db, "reaper"),
                                 _ledger(db, "claimer"))
        for n in (dead, reaper, claimer):
            await n.open()
        try:
            ids = [f"r{i:02d}" for i in range(40)]
            for t in ids:
                assert await dead.claim(t, idempotent=t[-1] in "02468", priority=5,
                                        queue="q") is not None
            await asyncio.sleep(0.4)
            # Claims arrive as a node's deliveries do (many at once), sweeps meanwhile.
            won = await asyncio.gather(
                *(claimer.claim(t, idempotent=t[-1] in "02468", priority=5, queue="q")
                  for t in ids),
                *(reaper.sweep([], reconcile_after_s=60) for _ in range(3)))
            claims = dict(zip(ids, won[:len(ids)], strict=True))
            for t, c in claims.items():  # what the reaper requeued meanwhile: claim again
                if c is None and t[-1] in "02468":
                    claims[t] = await claimer.claim(t, idempotent=True, priority=5, queue="q")
            return claims, {t: await claimer.state(t) for t in ids}
        finally:
            for n in (dead, reaper, claimer):
                await n.close()

    claims, states = arun(go())
    for t, claim in claims.items():
        if t[-1] in "02468":
            assert claim is not None and claim.fence >= 2, t
            assert states[t] == ("running", claim.fence), t
        else:
            assert claim is None, t  # a dead holder's non-idempotent task never runs again
            state = states[t]
            assert state is not None and state[0] in ("running", "done"), t
