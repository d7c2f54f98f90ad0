"""ResourceManager through the engine: bulkheads, rates, queue bounds, pressure, limits, usage."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec import SkillExecutionEngine, TaskStatus, skill
from skillexec.middleware import Middleware
from skillexec.resources import (
    PressureGauge,
    PressureSettings,
    ResourceLimits,
    ResourceManager,
    TokenBucket,
)
from skillexec.runtime.runners.base import Attempt, AttemptLimits
from skillexec.scheduling.executor import AsyncExecutor
from skillexec.scheduling.queue import TaskQueue
from skillexec.skills.decorator import skill_of
from skillexec.skills.model import Skill
from skillexec.task import ExecutionTask, Request
from tests.conftest import arun

GATES: dict[str, asyncio.Event] = {}


@skill(id="slow", timeout=10)
async def slow(gate: str) -> str:
    await GATES[gate].wait()
    return gate


@skill(id="fast", timeout=10)
async def fast(x: int = 0) -> int:
    return x


@skill(id="big", timeout=10)
def big(n: int) -> str:
    return "x" * n


def with_execution(fn: Any, **changes: Any) -> Skill:
    s = skill_of(fn)
    return dataclasses.replace(s, execution=dataclasses.replace(s.execution, **changes))


def make(tmp_path: Path, *, limits: ResourceLimits | None = None,
         pressure: PressureGauge | None = None, **kw: Any) -> SkillExecutionEngine:
    rm = ResourceManager(limits=limits, pressure=pressure or PressureGauge(
        settings=PressureSettings(enabled=False)), **kw)
    e = SkillExecutionEngine(data_dir=tmp_path / "data", resources=rm)
    e.register(with_execution(slow, concurrency=1))
    e.register(fast)
    e.register(big)
    return e


def test_bulkhead_slow_skill_does_not_block_others(tmp_path: Path) -> None:
    async def main() -> None:
        GATES.update({f"g{i}": asyncio.Event() for i in range(3)})
        async with make(tmp_path, limits=ResourceLimits(max_concurrency=4)) as e:
            ids = [await e.submit("slow", {"gate": f"g{i}"}) for i in range(3)]
            await asyncio.sleep(0.01)
            assert e.resources.running_by_skill == {"slow": 1}
            # 3 slots are free though two slow calls wait: another skill goes straight through
            r = await asyncio.wait_for(e.execute("fast", {"x": 7}), 2)
            assert r.ok and r.output == 7
            assert [(await e.status(i)).status for i in ids].count(TaskStatus.RUNNING) == 1
            for i in range(3):
                GATES[f"g{i}"].set()
            results = [await e.wait(i, timeout=5) for i in ids]
            assert [r.output for r in results] == ["g0", "g1", "g2"]  # kept their order
            assert e.resources.snapshot()["counters"]["deferred_skill_limit"] >= 2
    arun(main())


def test_configured_skill_concurrency_overrides_manifest(tmp_path: Path) -> None:
    async def main() -> None:
        GATES.update({f"h{i}": asyncio.Event() for i in range(3)})
        limits = ResourceLimits(skill_concurrency={"slow": 2})
        async with make(tmp_path, limits=limits) as e:
            ids = [await e.submit("slow", {"gate": f"h{i}"}) for i in range(3)]
            await asyncio.sleep(0.01)
            assert e.resources.running_by_skill == {"slow": 2}
            for i in range(3):
                GATES[f"h{i}"].set()
            assert all([(await e.wait(i, timeout=5)).ok for i in ids])
    arun(main())


def test_token_bucket_rate_limit_per_principal(tmp_path: Path) -> None:
    now = [1000.0]

    async def main() -> None:
        limits = ResourceLimits(principal_rate_per_s=2.0, principal_burst=2)
        async with make(tmp_path, limits=limits, clock=lambda: now[0]) as e:
            assert (await e.execute("fast", principal="ann")).ok
            assert (await e.execute("fast", principal="ann")).ok
            r = await e.execute("fast", principal="ann")
            assert r.status is TaskStatus.REJECTED and r.error is not None
            assert r.error.code == "rate_limited" and r.error.retryable
            assert abs(r.error.details["retry_after_s"] - 0.5) < 1e-6
            assert (await e.execute("fast", principal="bob")).ok  # a bucket each
            assert (await e.execute("fast")).ok  # no principal, no bucket
            now[0] += 0.5
            assert (await e.execute("fast", principal="ann")).ok
            assert e.resources.snapshot()["counters"]["refused_rate"] == 1
    arun(main())


def test_queue_capacity_per_priority(tmp_path: Path) -> None:
    async def main() -> None:
        GATES["q"] = asyncio.Event()
        limits = ResourceLimits(max_concurrency=1, queue_capacity_by_priority={1: 1})
        async with make(tmp_path, limits=limits) as e:
            blocker = await e.submit("slow", {"gate": "q"})
            first = await e.submit("fast", priority=1)
            second = await e.execute("fast", priority=1)
            assert second.status is TaskStatus.REJECTED and second.error is not None
            assert second.error.code == "queue_full"
            assert second.error.details["priority"] == 1
            other = await e.submit("fast", priority=6)  # another priority has room
            GATES["q"].set()
            for t in (blocker, first, other):
                assert (await e.wait(t, timeout=5)).ok
    arun(main())


def test_pressure_refuses_low_priority_with_retry_after(tmp_path: Path) -> None:
    state = {"mem": 50.0, "cpu": 10.0}

    async def main() -> None:
        gauge = PressureGauge(settings=PressureSettings(action="refuse", retry_after_s=2.5,
                                                        sample_interval_s=3600),
                              sample=lambda: (state["mem"], state["cpu"]))
        async with make(tmp_path, pressure=gauge) as e:
            assert (await e.execute("fast", priority=1)).ok
            state["mem"] = 91.0
            gauge.update()
            r = await e.execute("fast", priority=1)
            assert r.status is TaskStatus.REJECTED and r.error is not None
            assert r.error.type.value == "resource_error" and r.error.code == "system_pressure"
            assert r.error.details["retry_after_s"] == 2.5
            assert (await e.execute("fast", priority=8)).ok  # high priority still runs
            state["mem"] = 40.0
            gauge.update()  # recovery is automatic
            assert (await e.execute("fast", priority=1)).ok
            counters = e.resources.snapshot()["counters"]
            assert counters["refused_pressure"] == 1 and counters["pressure_on"] == 1
            assert counters["pressure_off"] == 1
        async with SkillExecutionEngine(data_dir=tmp_path / "data") as e2:
            events = await e2.journal.read_events("resource")
            reasons = [(ev["data"]["decision"], ev["data"]["reason"]) for ev in events]
            assert reasons == [("pressure", "on"), ("refused", "pressure"),
                               ("pressure", "off")]
    arun(main())


def test_pressure_makes_low_priority_wait_then_recovers(tmp_path: Path) -> None:
    state = {"mem": 95.0}

    async def main() -> None:
        gauge = PressureGauge(settings=PressureSettings(action="wait", sample_interval_s=3600),
                              sample=lambda: (state["mem"], 0.0))
        gauge.update()
        async with make(tmp_path, pressure=gauge) as e:
            low = await e.submit("fast", {"x": 1}, priority=2)
            hi = await e.execute("fast", {"x": 2}, priority=7)
            assert hi.ok
            await asyncio.sleep(0.01)
            assert (await e.status(low)).status is TaskStatus.QUEUED
            state["mem"] = 30.0
            gauge.update()
            r = await e.wait(low, timeout=2)
            assert r.ok and r.output == 1
    arun(main())


def test_pressure_threshold_in_mb_and_cpu_window() -> None:
    vals = [(10.0, 99.0, 1000.0)]
    g = PressureGauge(settings=PressureSettings(memory_threshold_mb=2000.0,
                                                cpu_threshold_pct=80.0, cpu_window_samples=2),
                      sample=lambda: vals[0])
    assert not g.update()  # one busy CPU sample is not enough
    assert g.update()  # two are
    vals[0] = (10.0, 10.0, 1000.0)
    assert not g.update()  # the mean of 99 and 10 is under 80
    assert not g.active
    vals[0] = (10.0, 0.0, 2500.0)
    assert g.update()


class SeeLimits(Middleware):
    def __init__(self) -> None:
        self.seen: list[AttemptLimits] = []

    async def before_attempt(self, task: ExecutionTask, attempt: Attempt) -> None:
        self.seen.append(attempt.limits)


def test_per_call_limits_can_only_tighten(tmp_path: Path) -> None:
    async def main() -> None:
        rm = ResourceManager(limits=ResourceLimits(),
                             pressure=PressureGauge(settings=PressureSettings(enabled=False)))
        see = SeeLimits()
        async with SkillExecutionEngine(data_dir=tmp_path / "d", resources=rm,
                                        middleware=[see]) as e:
            e.register(with_execution(fast, memory_mb=256, cpu_seconds=5.0, timeout_s=4.0))
            e.register(big)
            await e.execute("fast", limits={"memory_mb": 1024, "cpu_seconds": 60, "wall_s": 99})
            await e.execute("fast", limits={"memory_mb": 64, "cpu_seconds": 1, "wall_s": 1})
            await e.execute("fast")
            a, b, c = see.seen
            assert (a.memory_mb, a.cpu_seconds, a.timeout_s) == (256, 5.0, 4.0)
            assert (b.memory_mb, b.cpu_seconds, b.timeout_s) == (64, 1.0, 1.0)
            assert (c.memory_mb, c.cpu_seconds, c.timeout_s) == (256, 5.0, 4.0)
            r = await e.execute("big", {"n": 100}, limits={"max_output_bytes": 50})
            assert r.status is TaskStatus.FAILED and r.error is not None
            assert r.error.code == "output_too_large"
            assert (await e.execute("big", {"n": 10}, limits={"max_output_bytes": 50})).ok
            r = await e.execute("fast", limits={"gpu": 1})
            assert r.status is TaskStatus.REJECTED
    arun(main())


def test_default_call_limits_and_manifest_override() -> None:
    from skillexec.resources import CallLimits

    rm = ResourceManager(limits=ResourceLimits(call=CallLimits(memory_mb=512, wall_s=30)),
                         pressure=PressureGauge(settings=PressureSettings(enabled=False)))
    plain = with_execution(fast, timeout_s=None)
    assert rm.call_limits(plain) == CallLimits(memory_mb=512, wall_s=30)
    tuned = with_execution(fast, memory_mb=2048)
    assert rm.call_limits(tuned).memory_mb == 2048  # the manifest replaces a default
    assert rm.call_limits(tuned, CallLimits(memory_mb=4096)).memory_mb == 2048
    assert rm.call_limits(tuned, CallLimits(wall_s=5)).wall_s == 5


def test_usage_accounting(tmp_path: Path) -> None:
    async def main() -> None:
        async with make(tmp_path) as e:
            for i in range(3):
                assert (await e.execute("big", {"n": i}, principal="ann")).ok
            await e.execute("fast", principal="bob")
            await e.execute("nope")
            u = e.resources.usage()
            assert u["skills"]["big"]["calls"] == 3 and u["skills"]["fast"]["calls"] == 1
            assert u["skills"]["big"]["wall_seconds"] > 0
            assert u["skills"]["big"]["cpu_seconds"] >= 0
            assert u["principals"]["ann"]["calls"] == 3
            assert u["principals"]["bob"]["calls"] == 1
            # refused (unknown skill), not failed: it never ran
            assert (u["skills"]["nope"]["failures"], u["skills"]["nope"]["refusals"]) == (0, 1)
        # The same accounts, read back from the journal (past runs included).
        from skillexec.resources.usage_report import usage_report
        from skillexec.storage.sqlite import SQLiteStore

        store = SQLiteStore(tmp_path / "data" / "journal.db")
        await store.open()
        try:
            r = await usage_report(store)
        finally:
            await store.close()
        assert r["skills"]["big"]["calls"] == 3 and r["principals"]["ann"]["calls"] == 3
        assert r["principals"]["bob"]["calls"] == 1
        assert (r["skills"]["nope"]["failures"], r["skills"]["nope"]["refusals"]) == (0, 1)
        assert r["skills"]["big"]["wall_seconds"] == pytest.approx(
            u["skills"]["big"]["wall_seconds"], rel=1e-3)
    arun(main())


def test_usage_ledger_is_bounded() -> None:
    from skillexec.resources.usage import UsageLedger

    ledger = UsageLedger(max_keys=3)
    for i in range(10):
        ledger.record("s", f"user{i}", {"wall_ms": 1.0}, ok=True, cached=False)
    principals = ledger.snapshot()["principals"]
    assert len(principals) == 4 and principals["other"]["calls"] == 7


# -- properties ------------------------------------------------------------------------------

steps = st.lists(st.tuples(st.floats(0, 2, allow_nan=False), st.integers(1, 4)), max_size=60)


@given(st.floats(0.5, 50), st.integers(1, 10), steps)
@settings(max_examples=200, deadline=None)
def test_token_bucket_never_exceeds_rate_plus_burst(rate: float, burst: int,
                                                     seq: list[tuple[float, int]]) -> None:
    now = [0.0]
    b = TokenBucket(rate_per_s=rate, burst=burst, clock=lambda: now[0])
    granted = 0
    for dt, tries in seq:
        now[0] += dt
        for _ in range(tries):
            wait = b.take()
            if wait == 0.0:
                granted += 1
            else:
                assert wait > 0
                probe = copy.copy(b)
                saved = now[0]
                now[0] += wait  # after the wait it says, a token is there
                assert probe.tokens >= 1.0 - 1e-9
                now[0] = saved
        assert granted <= burst + rate * now[0] + 1e-6
        assert 0.0 <= b.tokens <= burst


class _Recorder(AsyncExecutor):
    def start(self, task: ExecutionTask) -> None:  # no event loop: record instead of run
        self.started.append(task)

    started: list[ExecutionTask]


ops = st.lists(st.one_of(st.tuples(st.just("push"), st.integers(0, 3), st.integers(0, 9)),
                         st.tuples(st.just("end"), st.integers(0, 50), st.just(0))),
               max_size=80)


@given(st.integers(1, 4), st.dictionaries(st.sampled_from(["s0", "s1", "s2", "s3"]),
                                          st.integers(1, 3), min_size=1), ops)
@settings(max_examples=200, deadline=None)
def test_bulkhead_scheduling_invariants(slots: int, per_skill: dict[str, int],
                                        seq: list[tuple[str, int, int]]) -> None:
    rm = ResourceManager(limits=ResourceLimits(skill_concurrency=per_skill),
                         pressure=PressureGauge(settings=PressureSettings(enabled=False)))
    q = TaskQueue(capacity=1000, aging_s=10.0)

    async def never(t: ExecutionTask) -> None:
        return None

    ex = _Recorder(q, max_concurrency=slots, run=never, gate=rm)
    ex.started = []
    running: list[ExecutionTask] = []
    for n, (op, a, prio) in enumerate(seq):
        if op == "push":
            t = ExecutionTask.of(f"t{n}", Request(f"s{a}", "1", {}, {}, prio, 1, 0, False, 0.0))
            t.queued_mono = float(n)
            if ex.claim(t):
                ex.started.append(t)
            else:
                q.push(t)
                ex.dispatch()
        elif running:
            ex.release(running.pop(a % len(running)))
        running.extend(ex.started)
        ex.started.clear()
        by_skill: dict[str, int] = {}
        for t in running:
            by_skill[t.skill_id] = by_skill.get(t.skill_id, 0) + 1
        assert len(running) <= slots and ex.slots == len(running)
        assert by_skill == rm.running_by_skill
        for sid, k in by_skill.items():
            assert k <= per_skill.get(sid, slots)
        # work conserving: nothing waits that could run now
        if len(running) < slots:
            waiting = {t.skill_id for t in _waiting(q)}
            for sid in waiting:
                assert by_skill.get(sid, 0) >= per_skill.get(sid, 10**9)


def _waiting(q: TaskQueue) -> list[ExecutionTask]:
    out = []
    for entry in q._entries.values():
        task = entry[2]
        assert isinstance(task, ExecutionTask)
        out.append(task)
    return out


@skill(id="hold", timeout=10)
async def hold(gate: str) -> str:
    await GATES[gate].wait()
    return gate


def test_low_priority_memory_is_reserved_under_the_threshold(tmp_path: Path) -> None:
    state = {"used_mb": 1000.0}

    async def main() -> None:
        gauge = PressureGauge(settings=PressureSettings(action="wait", memory_threshold_mb=1500,
                                                        sample_interval_s=3600),
                              sample=lambda: (10.0, 0.0, state["used_mb"]))
        gauge.update()
        GATES.update({"m1": asyncio.Event(), "m2": asyncio.Event()})
        async with make(tmp_path, pressure=gauge) as e:
            e.register(with_execution(hold, memory_mb=300))
            assert (await e.execute("fast", priority=8)).ok  # starts the sampler: one sample
            await asyncio.sleep(0.01)
            first = await e.submit("hold", {"gate": "m1"}, priority=2)
            second = await e.submit("hold", {"gate": "m2"}, priority=2)
            await asyncio.sleep(0.01)
            assert (await e.status(first)).status is TaskStatus.RUNNING
            assert (await e.status(second)).status is TaskStatus.QUEUED  # 300+300 > 500 room
            assert (await e.execute("fast", priority=8)).ok  # high priority is not held
            state["used_mb"] = 1300.0  # the first task's memory shows in the next sample
            gauge.update()
            await asyncio.sleep(0.01)
            assert (await e.status(second)).status is TaskStatus.QUEUED
            GATES["m1"].set()
            await e.wait(first, timeout=2)
            state["used_mb"] = 1000.0
            gauge.update()
            await asyncio.sleep(0.01)
            assert (await e.status(second)).status is TaskStatus.RUNNING
            GATES["m2"].set()
            assert (await e.wait(second, timeout=2)).ok
    arun(main())


def test_usage_and_limits_in_prometheus(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    async def main() -> str:
        async with make(tmp_path) as e:
            for i in range(3):
                assert (await e.execute("big", {"n": i}, principal="ann")).ok
            await e.execute("fast", principal="bob")
            await e.execute("slow", {"gate": "open"})
            return e.monitor.prometheus_text()

    fams = {f.name: f for f in text_string_to_metric_families(arun(main()))}
    calls = {s.labels["skill"]: s.value for s in fams["skillexec_skill_calls"].samples}
    assert calls["big"] == 3 and calls["fast"] == 1
    by_principal = {s.labels["principal"]: s.value
                    for s in fams["skillexec_principal_calls"].samples}
    assert by_principal == {"ann": 3, "bob": 1}
    wall = {s.labels["skill"]: s.value for s in fams["skillexec_skill_wall_seconds"].samples}
    assert wall["big"] > 0
    limits = {s.labels["skill"]: s.value
              for s in fams["skillexec_skill_concurrency_limit"].samples}
    assert limits == {"slow": 1}  # declared by its manifest
