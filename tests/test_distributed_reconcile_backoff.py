"""The reconciler backs off per task: a queued task nobody claimed is published again a
bound after it was published, then 1, 2, 4, 8 and 16 bounds after each republish, not once
every bound (a backlog longer than the bound was published again whole, every bound). A
claim starts the count over. Real PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator

import pytest

from skillexec.distributed.ledger import Ledger
from tests._distributed import database
from tests.conftest import arun


@pytest.fixture
def db() -> Iterator[str]:
    yield from database()


def test_a_task_waiting_in_a_backlog_is_published_again_ever_less_often(db: str) -> None:
    bound = 0.2

    async def go() -> tuple[list[float], list[float]]:
        ledger = Ledger(db, worker_id="a", lease_s=30)
        await ledger.open()
        try:
            candidate = [("t1", True, 5, "q")]
            t0 = time.monotonic()
            republished: list[float] = []
            while time.monotonic() - t0 < 3.8:  # a sweep every 50 ms (the next: at 6.2 s)
                swept = await ledger.sweep(candidate, reconcile_after_s=bound)
                if swept.again:
                    republished.append(time.monotonic() - t0)
                await asyncio.sleep(0.05)
            # Claimed, then queued again (released): a bound to the next republish again.
            claim = await ledger.claim("t1", idempotent=True, priority=5, queue="q")
            assert claim is not None and await ledger.release(claim) == "q"
            t1 = time.monotonic()
            after: list[float] = []
            while time.monotonic() - t1 < 0.5:
                if (await ledger.sweep(candidate, reconcile_after_s=bound)).again:
                    after.append(time.monotonic() - t1)
                await asyncio.sleep(0.05)
            return republished, after
        finally:
            await ledger.close()

    republished, after = arun(go())
    # 0, then 0.2, 0.4, 0.8 and 1.6 s after each: at about 0, 0.2, 0.6, 1.4 and 3.0 s (once
    # per bound, it was 19 times).
    assert len(republished) == 5, republished
    gaps = [b - a for a, b in itertools.pairwise(republished)]
    for gap, want in zip(gaps, (0.2, 0.4, 0.8, 1.6), strict=True):
        assert want - 0.05 <= gap < want + 0.3, (gaps, republished)
    assert len(after) == 1 and 0.15 <= after[0] < 0.45, after
