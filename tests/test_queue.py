"""TaskQueue properties: priority first, FIFO within a priority, bounded wait by aging."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec.errors import ResourceError
from skillexec.scheduling.queue import TaskQueue
from skillexec.task import ExecutionTask, Request

AGING_S = 10.0


def task(i: int, priority: int, at: float) -> ExecutionTask:
    t = ExecutionTask.of(f"t{i}", Request("s", "1", {}, {}, priority, 1, 0, False, 0.0))
    t.queued_mono = at
    return t


arrivals = st.lists(st.tuples(st.integers(0, 9), st.floats(0, 200, allow_nan=False)),
                    min_size=1, max_size=60)


def drain(q: TaskQueue) -> list[ExecutionTask]:
    out = []
    while (t := q.pop()) is not None:
        out.append(t)
    return out


@given(arrivals)
@settings(max_examples=300)
def test_order_and_bounds(items: list[tuple[int, float]]) -> None:
    items = sorted(items, key=lambda x: x[1])  # tasks arrive in time order
    q = TaskQueue(capacity=1000, aging_s=AGING_S)
    for i, (p, at) in enumerate(items):
        q.push(task(i, p, at))
    assert len(q) == len(items)
    order = drain(q)
    assert len(order) == len(items) and len(q) == 0
    pos = {t.task_id: k for k, t in enumerate(order)}
    tasks = [(f"t{i}", p, at) for i, (p, at) in enumerate(items)]
    for a_id, pa, ta in tasks:
        for b_id, pb, tb in tasks:
            if a_id == b_id:
                continue
            if pa == pb and ta < tb:  # FIFO within a priority
                assert pos[a_id] < pos[b_id]
            if pa > pb and ta <= tb:  # higher priority, arrived no later: goes first
                assert pos[a_id] < pos[b_id]
            if tb - ta > 9 * AGING_S:  # aging: nobody waits more than 9 levels' worth
                assert pos[a_id] < pos[b_id]


@given(arrivals, st.data())
def test_discard_removes_exactly_those(items: list[tuple[int, float]], data: st.DataObject
                                       ) -> None:
    q = TaskQueue(capacity=1000, aging_s=AGING_S)
    for i, (p, at) in enumerate(items):
        q.push(task(i, p, at))
    gone = data.draw(st.sets(st.sampled_from([f"t{i}" for i in range(len(items))])))
    for tid in gone:
        assert q.discard(tid)
        assert not q.discard(tid)
    left = [t.task_id for t in drain(q)]
    assert set(left) == {f"t{i}" for i in range(len(items))} - gone
    assert sum(q.depth_by_priority().values()) == 0


def test_capacity_and_depth() -> None:
    q = TaskQueue(capacity=3, aging_s=AGING_S)
    for i, p in enumerate([1, 9, 9]):
        q.push(task(i, p, 0.0))
    assert q.depth_by_priority() == {1: 1, 9: 2}
    with pytest.raises(ResourceError) as info:
        q.push(task(9, 5, 0.0))
    assert info.value.code == "queue_full" and info.value.retryable


BOUND_S = 2.0
timed = st.lists(st.tuples(st.floats(0, 50, allow_nan=False), st.floats(0, 10, allow_nan=False)),
                 min_size=1, max_size=60)


@given(timed)
@settings(max_examples=300)
def test_shortest_expected_first_within_the_aging_bound(items: list[tuple[float, float]]) -> None:
    """Within a priority, a task put back by order_s <= BOUND_S goes after shorter ones that
    arrived within that bound, but before anything that arrived more than BOUND_S later."""
    q = TaskQueue(capacity=1000, aging_s=AGING_S)
    for i, (at, predicted_s) in enumerate(sorted(items)):
        t = task(i, 5, at)
        t.order_s = min(BOUND_S, predicted_s * 10)
        q.push(t)
    out = drain(q)
    assert len(out) == len(items)
    for k, first in enumerate(out):
        for later in out[k + 1:]:
            # nothing popped after a task arrived more than the bound before it
            assert later.queued_mono >= first.queued_mono - BOUND_S - 1e-9
    keys = [t.queued_mono + t.order_s for t in out]
    # shortest expected first, at equal arrival (to float precision: the queue's key also
    # holds the priority's aging offset)
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(keys))
