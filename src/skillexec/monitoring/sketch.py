"""A streaming quantile sketch with relative accuracy (the DDSketch idea, kept small).

A positive value x falls in bucket ``ceil(log_gamma(x))`` with ``gamma = (1+a)/(1-a)``; every
value in a bucket is within a relative error ``a`` of the bucket's representative value, so any
quantile is answered within ``a`` (1% by default) of a value of the right rank. Memory is one
8-byte counter per bucket between the lowest and highest seen: values from 1 µs to one day at
1% take fewer than 1,200 buckets, and ``max_buckets`` bounds it whatever arrives (the lowest
buckets are merged, so high quantiles, the ones that matter for latency, stay accurate).
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import mul as _mul

__all__ = ["QuantileSketch", "extend_all"]

_MIN_VALUE = 1e-9  # values at or below this count as zero


class QuantileSketch:
    """Counts in a dense array of 8-byte buckets from the lowest occupied index up."""

    __slots__ = ("_counts", "_gamma", "_inv_log_gamma", "_max_buckets", "_offset", "count",
                 "max", "min", "relative_accuracy", "sum", "zero_count")

    def __init__(self, relative_accuracy: float = 0.01, *, max_buckets: int = 2048) -> None:
        if not 0.0 < relative_accuracy < 1.0:
            raise ValueError("relative_accuracy must be in (0, 1)")
        self.relative_accuracy = relative_accuracy
        self._gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy)
        self._inv_log_gamma = 1.0 / math.log(self._gamma)
        self._max_buckets = max(2, max_buckets)
        self._counts: array[int] = array("q")
        self._offset = 0
        self.zero_count = 0
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float) -> None:
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if value <= _MIN_VALUE:
            self.zero_count += 1
            return
        i = math.ceil(math.log(value) * self._inv_log_gamma)
        j = i - self._offset
        c = self._counts
        if 0 <= j < len(c):
            c[j] += 1
        else:
            self._add_outside(i, 1)

    def _add_outside(self, i: int, n: int) -> None:
        c = self._counts
        if not c:
            self._offset = i
            c.append(0)
        elif i < self._offset:
            self._counts = c = array("q", bytes(8 * (self._offset - i))) + c
            self._offset = i
        elif i >= self._offset + len(c):
            c.extend(array("q", bytes(8 * (i - self._offset - len(c) + 1))))
        excess = len(c) - self._max_buckets
        if excess > 0:  # merge the lowest buckets: high quantiles keep their accuracy
            moved = sum(c[:excess])
            del c[:excess]
            c[0] += moved
            self._offset += excess
        c[max(0, i - self._offset)] += n

    def add_zeros(self, n: int) -> None:
        """Count ``n`` values too small to matter (as zeros)."""
        if n > 0:
            self.count += n
            self.zero_count += n
            if self.min > 0.0:
                self.min = 0.0
            if self.max < 0.0:
                self.max = 0.0

    def extend(self, values: Iterable[float]) -> None:
        """Add many values (see :func:`extend_all`)."""
        extend_all((self,), values)

    def _add_logs(self, n: int, total: float, lo: float, hi: float, zeros: int,
                  logs: Iterable[float]) -> None:
        """``n`` values (``zeros`` of them zeros) whose sum, min and max are given, and the
        natural logs of the positive ones."""
        self.count += n
        self.sum += total
        if lo < self.min:
            self.min = lo
        if hi > self.max:
            self.max = hi
        self.zero_count += zeros
        c = self._counts
        for i, k in Counter(map(math.ceil, map(_mul, logs,
                                               repeat(self._inv_log_gamma)))).items():
            j = i - self._offset
            if 0 <= j < len(c):
                c[j] += k
            else:
                self._add_outside(i, k)
                c = self._counts

    def merge(self, other: QuantileSketch) -> None:
        if other._gamma != self._gamma:
            raise ValueError("sketches of different accuracy cannot be merged")
        for j, n in enumerate(other._counts):
            if n:
                i = other._offset + j
                k = i - self._offset
                if self._counts and 0 <= k < len(self._counts):
                    self._counts[k] += n
                else:
                    self._add_outside(i, n)
        self.zero_count += other.zero_count
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def _value(self, i: int) -> float:
        return min(max(2.0 * self._gamma ** i / (self._gamma + 1.0), self.min), self.max)

    def quantile(self, q: float) -> float | None:
        """The value of rank ``q`` (0..1), within the relative accuracy; None when empty."""
        return self.quantiles((q,))[0]

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """Several quantiles in one pass over the buckets."""
        wanted = sorted((q, n) for n, q in enumerate(qs))
        out: list[float | None] = [None] * len(wanted)
        if self.count == 0:
            return out
        c = self._counts
        seen = self.zero_count
        j = 0
        for q, n in wanted:
            if not 0.0 <= q <= 1.0:
                raise ValueError("q must be in [0, 1]")
            rank = q * (self.count - 1)
            if q == 1.0:
                out[n] = self.max  # the extremes are known exactly
                continue
            if rank < self.zero_count:
                out[n] = 0.0
                continue
            while j < len(c) and seen + c[j] <= rank:
                seen += c[j]
                j += 1
            if rank == 0.0:
                out[n] = self.min
                continue
            # Clamped to what was seen: exact at the extremes, never outside the data.
            out[n] = self._value(self._offset + j) if j < len(c) else self.max
        return out

    def count_at_most(self, bound: float) -> int:
        """How many values are at most ``bound`` (to bucket accuracy)."""
        if bound <= _MIN_VALUE:
            return self.zero_count
        limit = math.ceil(math.log(bound) * self._inv_log_gamma) - self._offset
        return self.zero_count + sum(self._counts[:max(0, limit + 1)])

    @property
    def bucket_count(self) -> int:
        return len(self._counts)

    def __len__(self) -> int:
        return self.count


def extend_all(sketches: Sequence[QuantileSketch], values: Iterable[float]) -> None:
    """Add the same values to several sketches, at C speed: sum, min, max and logarithms
    computed once for all of them, bucket indices by ``map`` over math functions, counted by
    a Counter, then one array update per distinct bucket (the monitor folds its calls'
    times in batches into a cumulative sketch and a window's; a batch of latencies falls in
    a few dozen buckets)."""
    vals = values if isinstance(values, list | tuple) else list(values)
    if not vals:
        return
    lo, hi = min(vals), max(vals)
    zeros = 0
    positive: Sequence[float]
    if lo <= _MIN_VALUE:
        positive = [v for v in vals if v > _MIN_VALUE]
        zeros = len(vals) - len(positive)
    else:
        positive = vals
    logs = list(map(math.log, positive)) if len(sketches) > 1 else map(math.log, positive)
    total = sum(vals)
    for sketch in sketches:
        sketch._add_logs(len(vals), total, lo, hi, zeros, logs)
