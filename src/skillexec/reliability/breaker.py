"""CircuitBreaker: stop calling a skill that keeps failing, and try it again carefully.

closed → open: over a sliding window of ``window_s`` seconds (kept as ten buckets, so its
memory does not grow with the call rate) holding at least ``min_calls`` attempts, the share
that failed reaches ``failure_rate``; or ``consecutive_failures`` attempts in a row failed
(a rate over a window reacts only once the failures outweigh the window's earlier
successes; a streak catches a dependency that just went down at once).
While open, calls are refused at admission (``circuit_open``, retryable,
``details.retry_after_s``) and no retries are made.
open → half-open after ``open_s``: up to ``probes`` calls are let through; one failure
opens it again, ``probes`` successes close it. Probes that never report back (refused later
at admission, or lost) are given up after ``open_s`` and new ones are let through.
Every transition is reported to ``on_transition`` (the handler journals them).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from skillexec.reliability.settings import ReliabilitySettings
from skillexec.units import duration

__all__ = ["BREAKER_EVENT", "BreakerState", "CircuitBreaker", "Transition"]

# The journal event kind of a transition (data: Transition.to_dict()); the monitor reads it.
BREAKER_EVENT = "breaker"

_BUCKETS = 10


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Transition:
    skill: str
    old: BreakerState
    new: BreakerState
    reason: str
    failure_rate: float | None = None
    calls: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"skill": self.skill, "from": self.old.value, "to": self.new.value,
                "reason": self.reason, "failure_rate": self.failure_rate,
                "calls": self.calls}


class CircuitBreaker:
    def __init__(self, skill: str, settings: ReliabilitySettings | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 on_transition: Callable[[Transition], None] | None = None) -> None:
        s = settings or ReliabilitySettings()
        self.skill = skill
        self.window_s = s.breaker_window_s
        self.failure_rate = s.breaker_failure_rate
        self.min_calls = s.breaker_min_calls
        self.open_s = s.breaker_open_s
        self.probes = s.breaker_half_open_probes
        self.streak_limit = s.breaker_consecutive_failures
        self._streak = 0
        self._clock = clock
        self._notify = on_transition
        self._state = BreakerState.CLOSED
        self._bucket_s = self.window_s / _BUCKETS
        self._window: deque[list[int]] = deque()  # [bucket number, attempts, failures]
        self._calls = 0
        self._failures = 0
        self._opened_at = 0.0
        self._half_open_at = 0.0
        self._admitted = 0  # probes let through in this half-open period
        self._successes = 0
        self.transitions: list[Transition] = []

    # -- reading -----------------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose time is up reads, and becomes, half-open)."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.open_s:
            self._move(BreakerState.HALF_OPEN, "open period over: probing")
        return self._state

    def stats(self) -> tuple[int, float]:
        """Attempts in the window, and the share of them that failed."""
        self._prune(self._clock())
        n = self._calls
        return n, (self._failures / n if n else 0.0)

    def retry_after(self) -> float:
        """Seconds until calls may be let through again (0 when they may now)."""
        st = self.state
        # open_s - elapsed, the same difference `state` compares: for floats, a < b implies
        # b - a > 0, so an open breaker never says 0 (opened_at + open_s - now could).
        if st is BreakerState.OPEN:
            return max(0.0, self.open_s - (self._clock() - self._opened_at))
        if st is BreakerState.HALF_OPEN and self._admitted >= self.probes:
            return max(0.0, self.open_s - (self._clock() - self._half_open_at))
        return 0.0

    # -- admission ---------------------------------------------------------------------------

    def allow(self) -> bool:
        """May a call go through now? In half-open, a True is one of the probes."""
        st = self._state
        if st is BreakerState.OPEN:  # only an open one may have moved on (the property)
            st = self.state
        if st is BreakerState.CLOSED:
            return True
        if st is BreakerState.OPEN:
            return False
        now = self._clock()
        if self._admitted >= self.probes and now - self._half_open_at >= self.open_s:
            self._admitted = 0  # the probes never reported: let new ones through
            self._successes = 0
            self._half_open_at = now
        if self._admitted < self.probes:
            self._admitted += 1
            return True
        return False

    def release(self) -> None:
        """A probe let through by :meth:`allow` will not run after all."""
        if self._state is BreakerState.HALF_OPEN and self._admitted > 0:
            self._admitted -= 1

    # -- results -----------------------------------------------------------------------------

    def record(self, ok: bool) -> None:
        """The result of one attempt of this skill."""
        st = self._state
        if st is BreakerState.OPEN:  # only an open one may have moved on (the property)
            st = self.state
        now = self._clock()
        if st is BreakerState.OPEN:
            return  # a call admitted before it opened: says nothing new
        if st is BreakerState.HALF_OPEN:
            if not ok:
                self._open(now, "a probe failed", None, None)
                return
            self._successes += 1
            if self._successes >= self.probes:
                self._clear()
                self._move(BreakerState.CLOSED, f"{self._successes} probes succeeded")
            return
        key = int(now / self._bucket_s)
        w = self._window
        if not w or w[-1][0] != key:
            w.append([key, 0, 0])
        bucket = w[-1]
        bucket[1] += 1
        self._calls += 1
        if ok:
            self._streak = 0
        else:
            bucket[2] += 1
            self._failures += 1
            self._streak += 1
        self._prune(now)
        n = self._calls
        if not ok and n >= self.min_calls and self._failures / n >= self.failure_rate:
            self._open(now, f"{self._failures} of {n} attempts failed in "
                            f"{duration(self.window_s)}", self._failures / n, n)
        elif not ok and self.streak_limit and self._streak >= self.streak_limit:
            self._open(now, f"{self._streak} attempts in a row failed",
                       self._failures / n, n)

    # -- plumbing ----------------------------------------------------------------------------

    def _prune(self, now: float) -> None:
        w = self._window
        oldest = int(now / self._bucket_s) - _BUCKETS + 1
        while w and w[0][0] < oldest:
            _, calls, failures = w.popleft()
            self._calls -= calls
            self._failures -= failures

    def _clear(self) -> None:
        self._window.clear()
        self._calls = self._failures = self._streak = 0

    def _open(self, now: float, reason: str, rate: float | None, calls: int | None) -> None:
        self._opened_at = now
        self._clear()
        self._move(BreakerState.OPEN, reason, rate, calls)

    def _move(self, new: BreakerState, reason: str, rate: float | None = None,
              calls: int | None = None) -> None:
        old = self._state
        self._state = new
        if new is BreakerState.HALF_OPEN:
            self._half_open_at = self._clock()
            self._admitted = 0
            self._successes = 0
        t = Transition(self.skill, old, new, reason,
                       None if rate is None else round(rate, 4), calls)
        self.transitions.append(t)
        del self.transitions[:-50]
        if self._notify is not None:
            self._notify(t)
