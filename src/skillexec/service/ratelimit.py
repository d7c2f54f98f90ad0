"""Rate limits: a token bucket each, refilled at ``rate_per_s`` up to ``burst`` (per API key
for requests; per client address for failed key checks)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """``take(key)`` spends a token: 0.0 when there was one, else the seconds until there
    is. Buckets of keys idle for long are forgotten (at most ``max_keys`` are kept), so a
    flood of distinct keys holds bounded memory."""

    def __init__(self, *, rate_per_s: float, burst: int, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_s
        self.burst = float(burst)
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, key: str) -> float:
        now = self._clock()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate_per_s)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate_per_s
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)  # the least recently seen key
        return wait

    def give(self, key: str) -> None:
        """Give back a token ``take`` spent (one held in case it was needed, and it was
        not)."""
        if (bucket := self._buckets.get(key)) is not None:
            self._buckets[key] = (min(self.burst, bucket[0] + 1.0), bucket[1])

    @staticmethod
    def retry_after(wait_s: float) -> str:
        """A Retry-After header's value: whole seconds, at least 1."""
        return str(max(1, math.ceil(wait_s)))
