"""The circuit breaker's state machine: unit cases and a hypothesis stateful model."""

from __future__ import annotations

from collections import deque

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from skillexec.reliability.breaker import BreakerState, CircuitBreaker, Transition
from skillexec.reliability.settings import ReliabilitySettings

S = ReliabilitySettings(breaker_window_s=10.0, breaker_failure_rate=0.5, breaker_min_calls=4,
                        breaker_open_s=5.0, breaker_half_open_probes=2,
                        breaker_consecutive_failures=0)
# The same with a streak limit below min_calls, so that both ways of opening are exercised.
S3 = ReliabilitySettings(breaker_window_s=10.0, breaker_failure_rate=0.5, breaker_min_calls=4,
                         breaker_open_s=5.0, breaker_half_open_probes=2,
                         breaker_consecutive_failures=3)


def state(b: CircuitBreaker) -> BreakerState:
    return b.state  # a call: mypy does not narrow it from one assert to the next


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_opens_on_failure_rate_then_half_open_then_closes() -> None:
    clock = Clock()
    seen: list[Transition] = []
    b = CircuitBreaker("s", S, clock=clock, on_transition=seen.append)
    for ok in (True, False, True):
        b.record(ok)
    assert state(b) is BreakerState.CLOSED  # below min_calls
    b.record(False)  # 2 of 4 failed: 50 %
    assert state(b) is BreakerState.OPEN and not b.allow()
    assert 4.9 < b.retry_after() <= 5.0
    clock.t += 5.0
    assert state(b) is BreakerState.HALF_OPEN
    assert b.allow() and b.allow() and not b.allow()  # two probes only
    b.record(True)
    b.record(True)
    assert state(b) is BreakerState.CLOSED
    assert [(t.old, t.new) for t in seen] == [
        (BreakerState.CLOSED, BreakerState.OPEN), (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED)]


def test_probe_failure_reopens_and_old_failures_leave_the_window() -> None:
    clock = Clock()
    b = CircuitBreaker("s", S, clock=clock)
    for _ in range(3):
        b.record(False)
    clock.t += 11  # those failures fall out of the window
    for ok in (True, True, True, False):
        b.record(ok)
    assert state(b) is BreakerState.CLOSED  # 1 of 4
    for _ in range(4):
        b.record(False)
    assert state(b) is BreakerState.OPEN
    clock.t += 5
    assert b.allow()
    b.record(False)
    assert state(b) is BreakerState.OPEN


def test_a_streak_of_failures_opens_before_the_rate_would() -> None:
    clock = Clock()
    b = CircuitBreaker("s", S3, clock=clock)
    for _ in range(20):
        b.record(True)
    b.record(False)
    b.record(False)
    assert state(b) is BreakerState.CLOSED
    b.record(True)  # a success ends the streak
    b.record(False)
    b.record(False)
    assert state(b) is BreakerState.CLOSED
    b.record(False)  # 3 in a row, though 4 of 25 is far below the 50% rate
    assert state(b) is BreakerState.OPEN
    assert "3 attempts in a row failed" in b.transitions[-1].reason


def test_lost_probes_are_given_up() -> None:
    clock = Clock()
    b = CircuitBreaker("s", S, clock=clock)
    for _ in range(4):
        b.record(False)
    clock.t += 5
    assert b.allow() and b.allow() and not b.allow()
    b.release()  # one was refused later at admission
    assert b.allow() and not b.allow()
    clock.t += 5  # none reported back: let new probes through
    assert b.allow()


class BreakerModel(RuleBasedStateMachine):
    """Compare the breaker against a direct model of the rules in its docstring."""

    settings_ = S

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.b = CircuitBreaker("s", self.settings_, clock=self.clock)
        self.streak = 0
        self.state = BreakerState.CLOSED
        self.window: deque[tuple[float, bool]] = deque()
        self.opened_at = 0.0
        self.admitted = 0
        self.successes = 0
        self.half_at = 0.0

    def _tick(self) -> None:
        if self.state is BreakerState.OPEN and self.clock.t - self.opened_at >= S.breaker_open_s:
            self.state = BreakerState.HALF_OPEN
            self.admitted = self.successes = 0
            self.half_at = self.clock.t

    @rule(dt=st.floats(0.0, 8.0))
    def wait(self, dt: float) -> None:
        self.clock.t += dt

    @rule(ok=st.booleans())
    def record(self, ok: bool) -> None:
        self._tick()
        self.b.record(ok)
        now = self.clock.t
        if self.state is BreakerState.OPEN:
            return
        if self.state is BreakerState.HALF_OPEN:
            if not ok:
                self.state, self.opened_at = BreakerState.OPEN, now
                self.window.clear()
                self.streak = 0
            else:
                self.successes += 1
                if self.successes >= S.breaker_half_open_probes:
                    self.state = BreakerState.CLOSED
                    self.window.clear()
                    self.streak = 0
            return
        self.window.append((now, not ok))
        self.streak = 0 if ok else self.streak + 1
        # The window is ten buckets: the current one and the nine before it.
        bucket_s = S.breaker_window_s / 10
        while self.window and int(self.window[0][0] / bucket_s) < int(now / bucket_s) - 9:
            self.window.popleft()
        fails = sum(f for _, f in self.window)
        limit = self.settings_.breaker_consecutive_failures
        if not ok and ((len(self.window) >= S.breaker_min_calls
                        and fails / len(self.window) >= S.breaker_failure_rate)
                       or (limit and self.streak >= limit)):
            self.state, self.opened_at = BreakerState.OPEN, now
            self.window.clear()
            self.streak = 0

    @rule()
    def allow(self) -> None:
        self._tick()
        got = self.b.allow()
        if self.state is BreakerState.CLOSED:
            assert got
        elif self.state is BreakerState.OPEN:
            assert not got
        else:
            if (self.admitted >= S.breaker_half_open_probes
                    and self.clock.t - self.half_at >= S.breaker_open_s):
                self.admitted = self.successes = 0
                self.half_at = self.clock.t
            expect = self.admitted < S.breaker_half_open_probes
            assert got == expect
            if expect:
                self.admitted += 1

    @precondition(lambda self: self.state is BreakerState.HALF_OPEN)
    @rule()
    def release(self) -> None:
        self.b.release()
        self.admitted = max(0, self.admitted - 1)

    @invariant()
    def same_state(self) -> None:
        self._tick()
        assert state(self.b) is self.state
        if self.state is BreakerState.OPEN:
            assert self.b.retry_after() > 0 or self.clock.t - self.opened_at >= S.breaker_open_s


BreakerModel.TestCase.settings = settings(max_examples=100, stateful_step_count=50,
                                          deadline=None)


class StreakBreakerModel(BreakerModel):
    settings_ = S3


StreakBreakerModel.TestCase.settings = settings(max_examples=100, stateful_step_count=50,
                                                deadline=None)
TestStreakBreakerModel = StreakBreakerModel.TestCase
TestBreakerModel = BreakerModel.TestCase
