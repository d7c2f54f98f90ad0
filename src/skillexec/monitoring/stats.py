"""Live statistics: per-skill counters, quantile sketches, histograms and a rolling window.

Everything here is updated on the engine's event loop thread only, so no locks: a call
touches a handful of ints and appends its times to two lists, folded in batches into two
sketches (which hand their tallies on to the window's current slot) and two bucket lists.
Memory is bounded per skill
(sketch buckets are capped, the window is a fixed ring), and skills are capped by the
monitor, so statistics stay small however long the engine runs.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from skillexec.monitoring.sketch import QuantileSketch
from skillexec.task import TaskStatus

__all__ = ["DURATION_BUCKETS_S", "VERDICTS", "MonitorSnapshot", "SkillSnapshot", "SkillStats",
           "Window", "in_latency", "percentile", "success_rate"]

# -- what the numbers mean: one definition of each, used by the live monitor, the alerts and
# every report read from the journal (README, "Monitoring": what the numbers mean) --------

# Tasks that ran to a verdict: they count in success rates, error rates and latency.
# Excluded everywhere: cancelled (the caller's choice, however long it ran) and rejected
# (refused before running: counted as rejections, by code), and, from latency only, tasks
# answered without running (a cache hit or a shared single-flight result has no wall time).
VERDICTS = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.TIMED_OUT})


def success_rate(counts: Mapping[TaskStatus, int]) -> float | None:
    """succeeded / (succeeded + failed + timed_out); None when no task reached a verdict."""
    decided = sum(counts.get(s, 0) for s in VERDICTS)
    return counts.get(TaskStatus.SUCCEEDED, 0) / decided if decided else None


def in_latency(status: TaskStatus, wall_ms: float | None) -> bool:
    """Whether a finished task's wall time counts in latency statistics (percentiles, mean,
    histograms): it ran to a verdict and has one."""
    return wall_ms is not None and status in VERDICTS


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The exact ``q`` quantile (nearest rank) of values sorted ascending; None if empty.
    (The live monitor's sketches approximate the same thing within their accuracy.)"""
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))]


# Prometheus histogram bounds, seconds (execution time and queue wait share them).
DURATION_BUCKETS_S: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 60.0, 120.0, 300.0)
_BOUNDS_MS = tuple(b * 1000.0 for b in DURATION_BUCKETS_S)
_STATUSES = tuple(TaskStatus)
_SUCCEEDED = TaskStatus.SUCCEEDED
_QS = (0.5, 0.95, 0.99)
_BATCH = 64  # calls whose times wait to be folded in (see SkillStats)


class Window:
    """A ring of time slots: calls, errors and execution/queue times of the last minutes.

    Its :class:`SkillStats` counts each call in the current slot as it ends (moving the slot
    on first when its time is up); the calls' times reach the slot's sketches as the mirror
    of the skill's cumulative sketches (see there). ``flush`` is that skill's, called before
    any read and before the slot moves on.
    """

    __slots__ = ("_accuracy", "_calls", "_cur_i", "_end", "_errors", "_exec", "_ids", "_queue",
                 "_start", "flush", "slot_s", "slots")

    def __init__(self, slot_s: float, slots: int, accuracy: float) -> None:
        self.slot_s = slot_s
        self.slots = slots
        self._accuracy = accuracy
        self._ids = [-1] * slots
        self._calls = [0] * slots
        self._errors = [0] * slots
        self._exec: list[QuantileSketch | None] = [None] * slots
        self._queue: list[QuantileSketch | None] = [None] * slots
        self._cur_i = 0  # the slot being written, and its time span
        self._start = 0.0
        self._end = 0.0
        self.flush: Callable[[], None] = _nothing

    def exec_sketch(self) -> QuantileSketch:
        """The current slot's execution times."""
        s = self._exec[self._cur_i]
        if s is None:
            s = self._exec[self._cur_i] = self._sketch()
        return s

    def queue_sketch(self) -> QuantileSketch:
        """The current slot's queue waits."""
        s = self._queue[self._cur_i]
        if s is None:
            s = self._queue[self._cur_i] = self._sketch()
        return s

    def _sketch(self) -> QuantileSketch:
        return QuantileSketch(self._accuracy, max_buckets=256, narrow=True)

    def _rotate(self, sid: int) -> None:
        for done in (self._exec[self._cur_i], self._queue[self._cur_i]):
            if done is not None:  # written no more: its pending counts go into its array
                done.settle()
        i = sid % self.slots
        if self._ids[i] != sid:
            self._ids[i] = sid
            self._calls[i] = self._errors[i] = 0
            self._exec[i] = self._queue[i] = None
        self._cur_i = i
        self._start = sid * self.slot_s
        self._end = self._start + self.slot_s

    def _live(self, now: float, window_s: float) -> list[int]:
        last = int(now // self.slot_s)
        first = last - max(1, int(-(-window_s // self.slot_s))) + 1
        return [i for i in range(self.slots) if first <= self._ids[i] <= last]

    def totals(self, now: float, window_s: float) -> tuple[int, int]:
        idx = self._live(now, window_s)
        return sum(self._calls[i] for i in idx), sum(self._errors[i] for i in idx)

    def merge_into(self, into: QuantileSketch, now: float, window_s: float, *,
                   queue: bool = False) -> QuantileSketch:
        self.flush()
        parts = self._queue if queue else self._exec
        for i in self._live(now, window_s):
            s = parts[i]
            kept = 0
            if s is not None:
                into.merge(s)
                kept = s.count
            if queue:  # calls that ended without a queue wait (e.g. never queued) as zeros
                into.add_zeros(self._calls[i] - kept)
        return into

    def quantile(self, now: float, window_s: float, q: float, *,
                 queue: bool = False) -> float | None:
        return self.merge_into(QuantileSketch(self._accuracy), now, window_s,
                               queue=queue).quantile(q)


def _nothing() -> None:
    return None


def _count_buckets(buckets: list[int], values: list[float]) -> None:
    """Histogram counts of ``values`` (sorted here, in place): the batch is sorted at C speed
    (floats compare without a Python call), then each bound is found by bisection, so the
    Python steps are per bound reached, not per value."""
    values.sort()
    n = len(values)
    below = 0
    for i, bound in enumerate(_BOUNDS_MS):
        upto = bisect_right(values, bound, below)
        if upto != below:
            buckets[i] += upto - below
            if upto == n:
                return
            below = upto
    buckets[-1] += n - below


class SkillStats:
    """Cumulative statistics of one skill (or of "other", where skills are folded).

    Counters are updated per call; execution and queue times are appended to two short
    lists and folded into the cumulative sketches and histograms every ``_BATCH`` calls,
    in a few passes at C speed (sort, struct, Counter), far cheaper per value than adding
    each as it comes. The cumulative sketches mirror into the window's current slot: what
    they tallied since they last settled is handed on to it when they settle, which
    :meth:`flush` makes them do before any read and before the slot moves on, so each
    time is tallied once for both.
    """

    __slots__ = ("_queues", "_walls", "attempts", "cache_hits", "category", "counts", "cpu_ms",
                 "cpu_samples", "disk_bytes", "errors", "exec", "exec_buckets", "max_rss_mb",
                 "net_bytes", "queue", "queue_buckets", "rejections", "retries", "running",
                 "skill", "succeeded", "timeout_s", "window")

    def __init__(self, skill: str, *, accuracy: float, slot_s: float, slots: int,
                 window_accuracy: float = 0.02) -> None:
        self.skill = skill
        self.counts: dict[TaskStatus, int] = dict.fromkeys(_STATUSES, 0)  # but succeeded
        self.succeeded = 0
        self.exec = QuantileSketch(accuracy)  # read them after flush()
        self.queue = QuantileSketch(accuracy)
        self.exec_buckets = [0] * (len(_BOUNDS_MS) + 1)
        self.queue_buckets = [0] * (len(_BOUNDS_MS) + 1)
        self._walls: list[float] = []  # times of counted calls, not yet folded in
        self._queues: list[float] = []
        self.running = 0
        self.attempts = 0
        self.retries = 0
        self.cache_hits = 0
        self.errors: dict[str, int] = {}
        self.rejections: dict[str, int] = {}
        self.cpu_ms = 0.0
        self.cpu_samples = 0
        self.max_rss_mb: float | None = None
        self.disk_bytes: int | None = None  # None: no runner measured it (inline), never 0
        self.net_bytes: int | None = None
        self.timeout_s: float | None = None
        self.category: str | None = None  # the skill's (set on its first call)
        self.window = Window(slot_s, slots, window_accuracy)
        self.window.flush = self.flush
        self.exec.mirror = self.window.exec_sketch
        self.queue.mirror = self.window.queue_sketch

    def finished(self, now: float, status: TaskStatus, metrics: dict[str, Any],
                 cached: bool) -> None:
        # Enum hashing is slow (a Python-level __hash__): the common case avoids it.
        if status is _SUCCEEDED:
            self.succeeded += 1
        else:
            self.counts[status] += 1
        if cached:
            self.cache_hits += 1
        if status is not _SUCCEEDED and status not in VERDICTS:
            return  # cancelled or rejected: counted, and in no rate or latency (see VERDICTS)
        wall = metrics.get("wall_ms")
        queue = metrics.get("queue_ms")
        w = self.window  # the call counted in the window's slot (inline: for every task)
        if not w._start <= now < w._end:
            self.flush()  # the times still pending belong to the slot being left
            w._rotate(int(now // w.slot_s))
        w._calls[w._cur_i] += 1
        if status is not _SUCCEEDED:
            w._errors[w._cur_i] += 1
        if wall is not None:
            self._walls.append(wall)
        if queue is not None:
            self._queues.append(queue)
            if len(self._queues) >= _BATCH:
                self._fold()
        elif len(self._walls) >= _BATCH:
            self._fold()

    def _fold(self) -> None:
        """The pending times into the cumulative sketches (mirrored later) and histograms."""
        walls, queues = self._walls, self._queues
        if walls:
            self._walls = []
            _count_buckets(self.exec_buckets, walls)  # sorts them: the sketch finds them so
            self.exec.extend(walls)
        if queues:
            self._queues = []
            _count_buckets(self.queue_buckets, queues)
            self.queue.extend(queues)

    def flush(self) -> None:
        """Everything pending into the sketches, histograms and the window's current slot
        (before any read, and before the slot moves on)."""
        self._fold()
        self.exec.settle()
        self.queue.settle()

    def status_counts(self) -> dict[TaskStatus, int]:
        counts = dict(self.counts)
        counts[_SUCCEEDED] += self.succeeded
        return counts

    def resources(self, metrics: dict[str, Any]) -> None:
        """An isolated attempt's rusage-based numbers (inline runs mostly have none)."""
        cpu = metrics.get("cpu_ms")
        if cpu is not None:
            self.cpu_ms += cpu
            self.cpu_samples += 1
        rss = metrics.get("max_rss_mb")
        if rss is not None and (self.max_rss_mb is None or rss > self.max_rss_mb):
            self.max_rss_mb = rss
        for key in ("disk_read_bytes", "disk_write_bytes"):
            v = metrics.get(key)
            if v is not None:
                self.disk_bytes = (self.disk_bytes or 0) + int(v)
        for key in ("net_rx_bytes", "net_tx_bytes"):
            v = metrics.get(key)
            if v is not None:
                self.net_bytes = (self.net_bytes or 0) + int(v)

    def snapshot(self) -> SkillSnapshot:
        self.flush()
        all_counts = self.status_counts()
        counts = {s.value: n for s, n in all_counts.items() if n}
        done = sum(n for s, n in all_counts.items() if s.terminal)
        e50, e95, e99 = self.exec.quantiles(_QS)
        q50, q95, q99 = self.queue.quantiles(_QS)
        return SkillSnapshot(
            skill=self.skill, counts=MappingProxyType(counts), total=done,
            success_rate=success_rate(all_counts),
            exec_p50_ms=e50, exec_p95_ms=e95, exec_p99_ms=e99,
            queue_p50_ms=q50, queue_p95_ms=q95, queue_p99_ms=q99,
            exec_mean_ms=(self.exec.sum / self.exec.count) if self.exec.count else None,
            running=self.running, attempts=self.attempts, retries=self.retries,
            cache_hits=self.cache_hits, errors=MappingProxyType(dict(self.errors)),
            rejections=MappingProxyType(dict(self.rejections)),
            cpu_ms_mean=(self.cpu_ms / self.cpu_samples) if self.cpu_samples else None,
            max_rss_mb=self.max_rss_mb, disk_bytes=self.disk_bytes, net_bytes=self.net_bytes)


@dataclass(frozen=True, slots=True)
class SkillSnapshot:
    skill: str
    counts: MappingProxyType[str, int]  # terminal and live statuses seen, by value
    total: int  # finished tasks
    success_rate: float | None  # see success_rate()
    exec_p50_ms: float | None
    exec_p95_ms: float | None
    exec_p99_ms: float | None
    queue_p50_ms: float | None
    queue_p95_ms: float | None
    queue_p99_ms: float | None
    exec_mean_ms: float | None
    running: int  # attempts running now
    attempts: int
    retries: int
    cache_hits: int
    errors: MappingProxyType[str, int]  # failed attempts by error type
    rejections: MappingProxyType[str, int]  # refused tasks by error code
    cpu_ms_mean: float | None  # where runners measured it
    max_rss_mb: float | None
    disk_bytes: int | None
    net_bytes: int | None

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}
        for key in ("counts", "errors", "rejections"):
            out[key] = dict(out[key])
        return out


@dataclass(frozen=True, slots=True)
class MonitorSnapshot:
    at: float
    skills: MappingProxyType[str, SkillSnapshot]
    running: int
    queue_depth: int
    queue_depth_by_priority: MappingProxyType[int, int]
    calls_by_principal: MappingProxyType[str, int]
    calls_by_category: MappingProxyType[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "running": self.running, "queue_depth": self.queue_depth,
                "queue_depth_by_priority": dict(self.queue_depth_by_priority),
                "calls_by_principal": dict(self.calls_by_principal),
                "calls_by_category": dict(self.calls_by_category),
                "skills": {k: v.to_dict() for k, v in self.skills.items()}}
