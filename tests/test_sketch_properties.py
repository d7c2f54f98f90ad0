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
