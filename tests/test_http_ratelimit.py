"""The per-key token bucket: never more than burst + rate x elapsed, and it says how long
to wait."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from skillexec.service.ratelimit import RateLimiter


@given(rate=st.floats(0.1, 1000), burst=st.integers(1, 50),
       gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200))
def test_never_more_than_the_bucket_allows(rate: float, burst: int,
                                           gaps: list[float]) -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_s=rate, burst=burst, clock=lambda: now[0])
    allowed = 0
    for gap in gaps:
        now[0] += gap
        wait = limiter.take("k")
        if wait == 0.0:
            allowed += 1
        else:
            assert 0 < wait <= 1 / rate + 1e-9
            assert int(RateLimiter.retry_after(wait)) >= 1
    assert allowed <= burst + rate * now[0] + 1e-6


def test_keys_have_their_own_buckets_and_idle_ones_are_forgotten() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_s=1, burst=1, max_keys=2, clock=lambda: now[0])
    assert limiter.take("a") == 0.0 and limiter.take("a") > 0
    assert limiter.take("b") == 0.0
    limiter.take("c")  # a third key: the least recently seen ("a") is forgotten
    assert limiter.take("a") == 0.0  # a fresh bucket
