"""Timeouts through the public API: per attempt, an overall deadline, attempts that may still
run (issue 12 items 1 and 5), and durations as a person reads them."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from skillexec import EngineConfig, SkillContext, SkillExecutionEngine, TaskStatus, skill
from skillexec.units import duration
from tests.conftest import arun


class _Charges:
    """What a skill that charges a card saw: calls, and how many ran at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.running = 0
        self.most = 0

    def charge(self, seconds: float) -> str:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(seconds)  # ignores context.cancelled, as real blocking code does
        with self.lock:
            self.running -= 1
        return "charged"


CHARGES = _Charges()
IDEMPOTENT = _Charges()


@skill(id="charge", timeout=0.2, max_retries=2)
def charge(seconds: float = 1.5) -> str:
    return CHARGES.charge(seconds)


@skill(id="lookup", timeout=0.2, max_retries=2, idempotent=True)
def lookup(seconds: float = 0.3) -> str:
    return IDEMPOTENT.charge(seconds)


@skill(id="slow", timeout=0.3, max_retries=1)
async def slow(context: SkillContext) -> str:
    await asyncio.sleep(5)
    return "late"


_stalls: dict[str, int] = {}


@skill(id="stall", timeout=30, max_retries=5)
async def stall(key: str) -> str:
    """Fails at once the first time (retryable), then hangs: only a deadline ends it."""
    _stalls[key] = _stalls.get(key, 0) + 1
    if _stalls[key] == 1:
        raise ConnectionError("not yet")
    await asyncio.sleep(60)
    return "late"


async def _until_free(engine: SkillExecutionEngine) -> None:
    stuck = engine.services.threads_stuck
    end = time.monotonic() + 10
    while stuck() and time.monotonic() < end:
        await asyncio.sleep(0.05)
    assert stuck() == 0  # the count follows the thread's return


def _engine(tmp_path: Path, **config: Any) -> SkillExecutionEngine:
    engine = SkillExecutionEngine(config=EngineConfig(data_dir=tmp_path / "d", **config))
    for fn in (charge, lookup, slow, stall):
        engine.register(fn)
    return engine


def test_a_timed_out_thread_is_not_run_again_while_it_may_still_run(tmp_path: Path) -> None:
    CHARGES.__init__()  # type: ignore[misc]
    IDEMPOTENT.__init__()  # type: ignore[misc]

    async def go() -> None:
        async with _engine(tmp_path, retry_base_delay_s=0.01) as engine:
            r = await engine.execute("charge")
            assert r.status is TaskStatus.TIMED_OUT and r.attempts == 1
            assert r.error is not None and r.error.details["attempt_may_still_run"]
            assert "not retried" in r.error.message and "idempotent" in r.error.message
            assert "within 200 ms" in r.error.message
            assert engine.services.threads_stuck() == 1  # counted until it returns
            assert "skillexec_inline_threads_stuck 1.0" in engine.monitor.prometheus_text()
            history = await engine.history(r.task_id)
            assert "not retried" in history[-1]["decision"]
            await _until_free(engine)
            # An idempotent skill may overlap itself: it is retried, and the result says so.
            r2 = await engine.execute("lookup")
            assert r2.attempts == 3 and r2.status is TaskStatus.TIMED_OUT
            assert r2.error is not None and "not_retried" not in r2.error.details
            decisions = [h["decision"] for h in await engine.history(r2.task_id)]
            assert "retried as idempotent" in decisions[0]
        assert CHARGES.calls == 1 and CHARGES.most == 1
        assert IDEMPOTENT.calls == 3

    arun(go())


def test_stuck_threads_count_against_the_pool(tmp_path: Path) -> None:
    async def go() -> None:
        async with _engine(tmp_path, thread_pool_size=1) as engine:
            first = await engine.execute("charge", {"seconds": 2.0})
            assert first.status is TaskStatus.TIMED_OUT
            second = await engine.execute("charge", {"seconds": 0.01}, max_retries=0)
            # Refused at once: waiting for the thread, it would have timed out instead.
            assert second.error is not None
            assert second.error.code == "inline_threads_exhausted" and second.error.retryable
            await _until_free(engine)
            third = await engine.execute("charge", {"seconds": 0.01})
            assert third.status is TaskStatus.SUCCEEDED

    arun(go())


def test_every_attempt_gets_the_whole_timeout_and_metrics_cover_all(tmp_path: Path) -> None:
    async def go() -> None:
        async with _engine(tmp_path, retry_base_delay_s=0.2,
                           reliability={"jitter": "none"}) as engine:
            r = await engine.execute("slow")
            history = await engine.history(r.task_id)
        assert r.status is TaskStatus.TIMED_OUT and r.attempts == 2
        walls = [h["metrics"]["wall_ms"] for h in history]
        assert all(w >= 290 for w in walls), walls  # the second attempt got 300 ms too
        assert r.error is not None and r.error.message.endswith("within 300 ms")
        assert r.metrics["wall_ms"] >= sum(walls) + 190  # both attempts and the wait
        assert r.metrics["last_attempt_wall_ms"] == walls[-1]

    arun(go())


def test_an_overall_deadline_is_its_own_setting(tmp_path: Path) -> None:
    """The deadline bounds the call, its retries and their waits included: the first
    attempt fails at once and is retried, the second hangs and the deadline cuts it. (A
    first attempt that timed out 200 ms before the deadline raced it: on a loaded
    machine it ended too late for a retry, and the call ended on that attempt's own
    timeout instead.)"""
    async def go() -> None:
        async with _engine(tmp_path, retry_base_delay_s=0.01,
                           reliability={"jitter": "none"}) as engine:
            r = await engine.execute("stall", {"key": "a"}, deadline=0.5)
            assert r.status is TaskStatus.TIMED_OUT and r.attempts == 2, r.error
            assert r.error is not None and r.error.code == "deadline_exceeded"
            assert "deadline of 500 ms" in r.error.message
            # no earlier than the deadline; cut by it, not by the attempt's own 30 s
            assert 450 <= r.metrics["wall_ms"] < 30_000
            bad = await engine.execute("slow", deadline=-1)
            assert bad.error is not None and bad.error.code == "invalid_deadline"
        async with _engine(tmp_path / "b", default_deadline_s=0.4) as engine:
            r = await engine.execute("stall", {"key": "b"})
            assert r.attempts == 2 and r.error is not None, r.error
            assert r.error.code == "deadline_exceeded"

    _stalls.clear()
    arun(go())


@given(st.floats(min_value=1e-6, max_value=1e7, allow_nan=False))
def test_durations_read_as_a_person_writes_them(seconds: float) -> None:
    text = duration(seconds)
    m = re.fullmatch(r"(\d+(?:\.\d+)?) (µs|ms|s|min|h|d)", text)
    assert m is not None, text
    number, unit = m.groups()
    assert len(number.replace(".", "").lstrip("0")) <= 3
    assert 1 <= float(number) < 1000 or unit == "µs"
    scale = {"µs": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600, "d": 86400}[unit]
    assert abs(float(number) * scale - seconds) <= 0.01 * seconds


def test_duration_examples() -> None:
    assert [duration(s) for s in (1, 0.25, 1.5, 3600, 3.6, 0.923676, 90)] == [
        "1 s", "250 ms", "1.5 s", "1 h", "3.6 s", "924 ms", "1.5 min"]
