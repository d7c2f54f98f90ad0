"""A streaming quantile sketch with relative accuracy (log-linear buckets, as in HDR
histograms and DDSketch's log-linear mapping), built so that a batch is counted at C speed.

A positive value's bucket is read off its IEEE 754 single-precision bits: the sign, the 8
exponent bits and the top ``p`` mantissa bits. Every power of two is thus cut into ``2**p``
buckets, each at most ``2**-p`` wide relative to its start, and a bucket's representative
value is within ``2**-p / (2 + 2**-p)`` of everything in it, so any quantile is answered
within that of a value of the right rank (``p = 6``: 0.78 %, for a requested 1 %).

Why bits and not ``ceil(log(x) / log(gamma))``: a batch becomes float32 in one
``struct.pack`` and the top 16 bits of each value are read by slicing a 16-bit view of it,
all in C; the keys are then tallied by ``Counter.update`` (C) into a pending tally, settled
into the dense bucket array only when read or when it grows large. Per value that is a
third of the CPU instructions of a log, a multiplication and a ceil, each a call.

Memory is one counter per bucket between the lowest and highest seen (8 bytes, or 4 for a
``narrow`` sketch; ``2**p`` buckets per doubling: 1 µs to one day at 1 % is 2,300 buckets),
and ``max_buckets`` bounds it whatever arrives (the lowest buckets are merged, so high
quantiles, the ones that matter for latency, stay accurate).
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

__all__ = ["QuantileSketch", "extend_all"]

_MIN_VALUE = 1e-9  # values at or below this count as zero
_PENDING_MAX = 128  # distinct keys counted before they are settled (bounds its memory)
_KEY_BITS = 7  # mantissa bits in a key: float32's top 16 bits are sign, 8 exponent, 7 of these
_F32 = struct.Struct("<f")
_U32 = struct.Struct("<I")
_F32_MAX = 3.4e38  # about the largest float32; larger values are counted as this
_HIGH = 1 if sys.byteorder == "little" else 0  # the high half of each float32, as two uint16


def _keys(positive: Sequence[float]) -> array[int]:
    """The top 16 bits of each value as float32 (the caller keeps them <= _F32_MAX)."""
    return array("H", struct.pack(f"<{len(positive)}f", *positive))[_HIGH::2]


def _key(value: float) -> int:
    key: int = _U32.unpack(_F32.pack(min(value, _F32_MAX)))[0] >> 16
    return key


def _edge(bucket: int, shift: int) -> float:
    """The smallest value of ``bucket`` (and the bound above ``bucket - 1``)."""
    return float(_F32.unpack(_U32.pack((bucket << shift) << 16))[0])


class QuantileSketch:
    """Counts in a dense array of buckets from the lowest occupied one up, plus a tally of
    the keys not yet settled into it."""

    __slots__ = ("_counts", "_max_buckets", "_offset", "_pending", "_shift", "count", "max",
                 "min", "mirror", "relative_accuracy", "sum", "zero_count")

    def __init__(self, relative_accuracy: float = 0.01, *, max_buckets: int = 4096,
                 narrow: bool = False) -> None:
        """``narrow``: 4-byte counters (at most 2**32 - 1 per bucket), half the memory, for
        short-lived sketches such as a rolling window's 10-second slots."""
        if not 0.0 < relative_accuracy < 1.0:
            raise ValueError("relative_accuracy must be in (0, 1)")
        # The fewest mantissa bits that meet the accuracy asked for (finer is not offered:
        # 7 bits, 0.39 %, is what the 16-bit keys hold).
        bits = 0
        while bits < _KEY_BITS and 2.0 ** -bits / (2.0 + 2.0 ** -bits) > relative_accuracy:
            bits += 1
        self._shift = _KEY_BITS - bits  # key >> shift: the bucket
        self.relative_accuracy = 2.0 ** -bits / (2.0 + 2.0 ** -bits)  # what it guarantees
        self._max_buckets = max(2, max_buckets)
        self._counts: array[int] = array("I" if narrow else "q")
        self._offset = 0
        # Counts by key (not bucket) not yet in the array: see the module's docstring.
        self._pending: Counter[int] | None = None
        # Where batches are also counted (see _add_keys): the rolling window's current slot
        # gets the same values as the cumulative sketch, without tallying them twice.
        self.mirror: Callable[[], QuantileSketch] | None = None
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
        i = _key(value) >> self._shift
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
            self._counts = c = array(c.typecode, bytes(c.itemsize * (self._offset - i))) + c
            self._offset = i
        elif i >= self._offset + len(c):
            c.extend(array(c.typecode, bytes(c.itemsize * (i - self._offset - len(c) + 1))))
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

    def _add_keys(self, n: int, total: float, lo: float, hi: float, zeros: int,
                  keys: Iterable[int]) -> None:
        """``n`` values (``zeros`` of them zeros) whose sum, min and max are given, and the
        keys of the positive ones."""
        self._add_scalars(n, total, lo, hi, zeros)
        if self.mirror is not None:  # its buckets follow when this settles
            self.mirror()._add_scalars(n, total, lo, hi, zeros)
        pending = self._pending
        if pending is None:
            pending = self._pending = Counter()
        pending.update(keys)
        if len(pending) > _PENDING_MAX:
            self.settle()

    def _add_scalars(self, n: int, total: float, lo: float, hi: float, zeros: int) -> None:
        self.count += n
        self.sum += total
        if lo < self.min:
            self.min = lo
        if hi > self.max:
            self.max = hi
        self.zero_count += zeros

    def settle(self) -> None:
        """Move the pending counts into the array (readers call it; so may an owner whose
        sketch will not be written again, to free the pending tally). With a mirror, the
        tally is handed on to it: its owner settles before the mirror changes, so everything
        pending belongs to the mirror of the moment."""
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        if self.mirror is not None:
            target = self.mirror()
            target.settle()
            target._pending = pending  # handed on: read below, then let go of
        shift = self._shift
        c = self._counts
        for key, k in pending.items():
            i = key >> shift
            j = i - self._offset
            if 0 <= j < len(c):
                c[j] += k
            else:
                self._add_outside(i, k)
                c = self._counts

    def merge(self, other: QuantileSketch) -> None:
        if other._shift != self._shift:
            raise ValueError("sketches of different accuracy cannot be merged")
        self.settle()
        other.settle()
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
        lo, hi = _edge(i, self._shift), _edge(i + 1, self._shift)
        # The harmonic mean of the edges: equally close, relatively, to both.
        mid = 2.0 * lo * hi / (lo + hi) if math.isfinite(hi) else lo
        return min(max(mid, self.min), self.max)

    def quantile(self, q: float) -> float | None:
        """The value of rank ``q`` (0..1), within the relative accuracy; None when empty."""
        return self.quantiles((q,))[0]

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """Several quantiles in one pass over the buckets."""
        wanted = sorted((q, n) for n, q in enumerate(qs))
        out: list[float | None] = [None] * len(wanted)
        if self.count == 0:
            return out
        self.settle()
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

    @property
    def bucket_count(self) -> int:
        self.settle()
        return len(self._counts)

    def __len__(self) -> int:
        return self.count


def extend_all(sketches: Sequence[QuantileSketch], values: Iterable[float]) -> None:
    """Add the same values to several sketches, at C speed: sorted once (which gives min and
    max, and the zeros as a prefix), summed once and turned into keys once; each sketch
    tallies the keys. NaN is not a value: it is left out."""
    vals = sorted(values)
    total = sum(vals)
    if total != total:  # a NaN somewhere (NaNs do not sort: filter, then sort again)
        vals = sorted(v for v in vals if v == v)
        total = sum(vals)
    if not vals:
        return
    zeros = bisect_right(vals, _MIN_VALUE)
    positive = vals[zeros:] if zeros else vals
    if positive and positive[-1] > _F32_MAX:  # float32 cannot hold it: the top bucket
        positive = [min(v, _F32_MAX) for v in positive]
    keys = _keys(positive)  # tallied by each sketch at C speed (a shared tally would be
    # merged into each in a Python step per distinct key: dearer for latencies, most distinct)
    lo, hi, n = vals[0], vals[-1], len(vals)
    for sketch in sketches:
        sketch._add_keys(n, total, lo, hi, zeros, keys)
