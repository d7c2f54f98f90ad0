"""Properties of the monitor's quantile sketch and histogram counting (hypothesis)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec.monitoring.sketch import QuantileSketch, extend_all
from skillexec.monitoring.stats import _BOUNDS_MS, _count_buckets

latencies = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e7, allow_nan=False)),
    min_size=1, max_size=400)
quantiles = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(values=latencies, qs=quantiles, accuracy=st.sampled_from([0.005, 0.01, 0.02, 0.05]))
def test_every_quantile_is_within_the_accuracy_of_a_value_of_that_rank(
        values: list[float], qs: list[float], accuracy: float) -> None:
    sketch = QuantileSketch(accuracy, max_buckets=1 << 16)  # no merging of low buckets here
    sketch.extend(values)
    exact = sorted(values)
    got = sketch.quantiles(qs)
    for q, value in zip(qs, got, strict=True):
        assert value is not None
        rank = q * (len(exact) - 1)
        # the sketch answers for the value of rank floor or ceil (it counts, it does not
        # interpolate), within the relative accuracy
        lo, hi = exact[math.floor(rank)], exact[math.ceil(rank)]
        assert lo * (1 - accuracy) - 1e-12 <= value <= hi * (1 + accuracy) + 1e-12, (q, lo, hi)
    assert sketch.count == len(values)
    assert math.isclose(sketch.sum, sum(values), rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(latencies, min_size=1, max_size=6))
def test_batches_one_by_one_and_merged_agree(batches: list[list[float]]) -> None:
    # The same values, folded in batches (pending counts settled on read), added one at a
    # time, or merged from two sketches, answer the same quantiles.
    batched, single, merged_a, merged_b = (QuantileSketch(0.01) for _ in range(4))
    for i, batch in enumerate(batches):
        extend_all((batched, merged_a if i % 2 else merged_b), batch)
        for v in batch:
            single.add(v)
    merged_a.merge(merged_b)
    qs = (0.0, 0.25, 0.5, 0.9, 0.99, 1.0)
    assert batched.quantiles(qs) == single.quantiles(qs) == merged_a.quantiles(qs)
    assert batched.count == single.count == merged_a.count


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.floats(min_value=0.0, max_value=1e6, allow_nan=False), max_size=300),
       start=st.lists(st.integers(min_value=0, max_value=5), min_size=len(_BOUNDS_MS) + 1,
                      max_size=len(_BOUNDS_MS) + 1))
def test_histogram_counts_match_counting_one_by_one(values: list[float],
                                                    start: list[int]) -> None:
    buckets = list(start)
    _count_buckets(buckets, list(values))
    expected = list(start)
    for v in values:  # Prometheus "le": the first bound at or above the value, else +Inf
        i = next((i for i, b in enumerate(_BOUNDS_MS) if v <= b), len(_BOUNDS_MS))
        expected[i] += 1
    assert buckets == expected


@settings(max_examples=150, deadline=None)
@given(calls=st.lists(st.tuples(
    st.floats(min_value=0.0, max_value=60.0),  # seconds later
    # times within a slot sketch's 256 buckets (beyond, its lowest merge, order-dependent)
    st.floats(min_value=1.0, max_value=200.0),  # wall ms
    st.one_of(st.just(0.0), st.floats(min_value=0.5, max_value=100.0)),  # queue ms
    st.booleans()),  # read the snapshot after this call
    min_size=1, max_size=300))
def test_window_slots_hold_exactly_their_calls(
        calls: list[tuple[float, float, float, bool]]) -> None:
    # Times are tallied once, by the cumulative sketches, and handed on to the window's
    # current slot when they settle (on reads and slot changes): whatever the order of
    # calls and reads, every slot must hold its own calls' times and no other's.
    from skillexec.monitoring.stats import SkillStats
    from skillexec.task import TaskStatus

    slot_s, slots = 10.0, 1000
    stats = SkillStats("s", accuracy=0.01, slot_s=slot_s, slots=slots)
    now = 1000.0
    by_slot: dict[int, tuple[list[float], list[float]]] = {}
    for later, wall, queue, read in sorted(calls, key=lambda c: c[0]):
        at = now + later
        stats.finished(at, TaskStatus.SUCCEEDED, {"wall_ms": wall, "queue_ms": queue}, False)
        walls, queues = by_slot.setdefault(int(at // slot_s), ([], []))
        walls.append(wall)
        queues.append(queue)
        if read:
            stats.snapshot()
    end = now + 61.0
    for sid, (walls, queues) in by_slot.items():
        at = sid * slot_s
        for queue, values in ((False, walls), (True, queues)):
            exact = QuantileSketch(0.02)
            exact.extend(values)
            got = stats.window.merge_into(QuantileSketch(0.02), at, slot_s / 2, queue=queue)
            assert got.count == len(values)
            assert got.quantiles((0.1, 0.5, 0.9)) == exact.quantiles((0.1, 0.5, 0.9))
    everything = [w for walls, _ in by_slot.values() for w in walls]
    assert stats.window.totals(end, 100.0)[0] == len(everything) == stats.snapshot().total
    whole = QuantileSketch(0.01)
    whole.extend(everything)
    stats.flush()
    assert stats.exec.quantiles((0.5, 0.99)) == whole.quantiles((0.5, 0.99))
