"""The execution monitor: metrics against known workloads, snapshots, Prometheus, events."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from skillexec import EngineConfig, SkillContext, SkillExecutionEngine, skill
from skillexec.monitoring.metrics import ExecutionMetrics
from skillexec.monitoring.settings import MonitorSettings
from skillexec.monitoring.sketch import QuantileSketch
from skillexec.task import Request, TaskStatus
from tests.conftest import arun


@skill(id="nap", version="1.0.0", timeout=10)
async def nap(ms: float = 20.0) -> str:
    await asyncio.sleep(ms / 1000.0)
    return "ok"


@skill(id="spin", version="1.0.0", timeout=10)
def spin(ms: float = 30.0) -> int:
    end = time.thread_time() + ms / 1000.0
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


@skill(id="broken", version="1.0.0", max_retries=0)
async def broken() -> None:
    raise ValueError("always")


_flaky_calls: dict[str, int] = {}


@skill(id="flaky", version="1.0.0", max_retries=3)
async def flaky(key: str) -> str:
    _flaky_calls[key] = _flaky_calls.get(key, 0) + 1
    if _flaky_calls[key] == 1:
        raise ConnectionError("first try fails")
    return "second"


def _engine(tmp: Path, *, trusted_skills: frozenset[str] = frozenset(),
            **settings: object) -> SkillExecutionEngine:
    cfg = EngineConfig(data_dir=tmp / "data", retry_base_delay_s=0.0, retry_max_delay_s=0.0,
                       trusted_skills=trusted_skills)
    engine = SkillExecutionEngine(config=cfg)
    engine.monitor.reconfigure(MonitorSettings(alerts=False, **settings))  # type: ignore[arg-type]
    for fn in (nap, spin, broken, flaky):
        engine.register(fn)
    return engine


def test_sketch_accuracy_and_bounds() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(1.0, 1.5) for _ in range(50_000)]
    s = QuantileSketch(0.01)
    s.extend(values)
    values.sort()
    for q in (0.5, 0.9, 0.95, 0.99, 0.999):
        exact = values[int(q * (len(values) - 1))]
        got = s.quantile(q)
        assert got is not None and abs(got - exact) / exact <= 0.02, (q, got, exact)
    assert s.count == 50_000 and s.quantile(0.0) == values[0] and s.quantile(1.0) == values[-1]
    small = QuantileSketch(0.01, max_buckets=64)
    small.extend(10 ** rng.uniform(-6, 6) for _ in range(5000))
    assert small.bucket_count <= 64
    empty = QuantileSketch()
    assert empty.quantile(0.5) is None
    a, b = QuantileSketch(), QuantileSketch()
    a.extend([1.0, 2.0, 3.0])
    b.extend([100.0, 200.0])
    a.merge(b)
    assert a.count == 5 and a.quantile(1.0) == 200.0


def test_known_workload_metrics(tmp_path: Path) -> None:
    async def go() -> None:
        engine = _engine(tmp_path)
        async with engine:
            results = await asyncio.gather(*(engine.execute("nap", {"ms": 20}) for _ in range(10)))
            assert all(r.ok for r in results)
            for _ in range(3):
                assert (await engine.execute("broken")).status is TaskStatus.FAILED
            sync = await engine.execute("spin", {"ms": 30})
            retried = await engine.execute("flaky", {"key": "a"}, principal="alice")
            assert retried.ok and retried.attempts == 2
            rejected = await engine.execute("nap", {"ms": "not a number"})
            assert rejected.status is TaskStatus.REJECTED
            snap = engine.monitor.snapshot()
        n = snap.skills["nap"]
        assert n.counts == {"succeeded": 10, "rejected": 1}
        assert n.success_rate == 1.0
        # The calls' own wall times, whatever the machine's load made them (a bound such
        # as "under 200 ms" failed on a loaded CI machine): the sketch is within 1 % of one.
        walls = sorted(r.metrics["wall_ms"] for r in results)
        assert n.exec_p50_ms is not None and n.exec_p50_ms >= 19.0
        assert walls[0] * 0.98 <= n.exec_p50_ms <= walls[-1] * 1.02, (n.exec_p50_ms, walls)
        assert n.exec_p99_ms is not None and n.exec_p99_ms >= n.exec_p50_ms
        assert n.errors == {"parameter_error": 1}
        assert n.running == 0 and n.attempts == 10
        b = snap.skills["broken"]
        assert b.counts == {"failed": 3} and b.success_rate == 0.0
        assert b.errors == {"execution_error": 3}
        f = snap.skills["flaky"]
        assert f.attempts == 2 and f.retries == 1 and f.errors == {"network_error": 1}
        # a sync skill's CPU time is measured; an async one's is unknown, not zero
        assert snap.skills["spin"].cpu_ms_mean is not None
        assert snap.skills["spin"].cpu_ms_mean >= 25.0
        assert n.cpu_ms_mean is None
        assert snap.calls_by_principal["alice"] == 1
        assert sum(snap.calls_by_principal.values()) == 16
        assert snap.calls_by_principal["anonymous"] == 15
        assert snap.calls_by_category == {"uncategorised": 16}
        assert snap.running == 0 and snap.queue_depth == 0
        with pytest.raises(TypeError):
            snap.skills["nap"].counts["succeeded"] = 0  # type: ignore[index]
        # per-task metrics from the result and the journal's attempt history
        info = await engine_history(tmp_path, retried.task_id)
        m = ExecutionMetrics.from_result(retried, info)
        assert m.attempts == 2 and m.error_count == 1 and m.attempt_success_rate == 0.5
        assert m.wall_ms is not None and m.queue_ms is not None
        assert m.concurrent_executions is not None and m.concurrent_executions >= 1
        s = ExecutionMetrics.from_result(sync)
        # Its CPU time over its wall time (how much of it a loaded machine gave the thread
        # is not the engine's to say: "over 10 %" failed there).
        assert s.cpu_ms is not None and s.cpu_ms >= 25.0 and s.wall_ms is not None
        assert s.cpu_percent is not None and s.cpu_percent > 0
        assert s.cpu_percent == pytest.approx(s.cpu_ms / s.wall_ms * 100.0)
        assert ExecutionMetrics.from_result(results[0]).cpu_ms is None

    arun(go())


async def engine_history(tmp: Path, task_id: str) -> list[dict[str, object]]:
    async with SkillExecutionEngine(config=EngineConfig(data_dir=tmp / "data")) as engine:
        return await engine.history(task_id)


def test_prometheus_exposition_parses(tmp_path: Path) -> None:
    async def go() -> str:
        engine = _engine(tmp_path)
        async with engine:
            for _ in range(4):
                await engine.execute("nap", {"ms": 1})
            await engine.execute("broken")
            await engine.execute("no-such-skill")
            return engine.monitor.prometheus_text()

    text = arun(go())
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    execs = {(s.labels["skill"], s.labels["status"]): s.value
             for s in fams["skillexec_executions"].samples}
    assert execs[("nap", "succeeded")] == 4
    assert execs[("broken", "failed")] == 1
    assert execs[("other", "rejected")] == 1  # an unknown id is not a label of its own
    hist = fams["skillexec_execution_duration_seconds"]
    count = next(s for s in hist.samples
             if s.name.endswith("_count") and s.labels["skill"] == "nap")
    inf = next(s for s in hist.samples if s.labels.get("le") == "+Inf"
           and s.labels["skill"] == "nap")
    assert count.value == inf.value == 4
    total = [s for s in hist.samples if s.name.endswith("_sum") and s.labels["skill"] == "nap"]
    assert 0.001 * 4 <= total[0].value < 1.0
    errors = {(s.labels["skill"], s.labels["type"]): s.value
              for s in fams["skillexec_errors"].samples}
    assert errors[("broken", "execution_error")] == 1
    for name in ("skillexec_queue_wait_seconds", "skillexec_queue_depth", "skillexec_running",
                 "skillexec_retries", "skillexec_cache_hits", "skillexec_circuit_state",
                 "skillexec_resource_rejections", "skillexec_system_memory_percent",
                 "skillexec_queue_depth_by_priority"):
        assert name in fams, name
    assert not any("task_id" in s.labels for f in fams.values() for s in f.samples)


def test_label_cardinality_is_capped(tmp_path: Path) -> None:
    async def go() -> str:
        cfg = EngineConfig(data_dir=tmp_path / "d")
        engine = SkillExecutionEngine(config=cfg)
        engine.monitor.reconfigure(MonitorSettings(alerts=False, max_skills=3))
        for i in range(6):
            engine.register(skill(id=f"s{i}", version="1.0.0")(_noop_factory()))
        async with engine:
            for i in range(6):
                await engine.execute(f"s{i}")
            return engine.monitor.prometheus_text()

    fams = {f.name: f for f in text_string_to_metric_families(arun(go()))}
    skills = {s.labels["skill"] for s in fams["skillexec_executions"].samples}
    assert skills == {"s0", "s1", "s2", "other"}
    other = [s.value for s in fams["skillexec_executions"].samples
             if s.labels["skill"] == "other"]
    assert other == [3]


def _noop_factory():  # type: ignore[no-untyped-def]
    async def fn() -> None:
        return None
    return fn


def test_late_subscriber_replays_from_the_start(tmp_path: Path) -> None:
    gate: dict[str, asyncio.Event] = {}

    @skill(id="stepper", version="1.0.0")
    async def stepper(context: SkillContext) -> str:
        context.progress(0.25, "a quarter")
        context.progress(0.5, "half")
        await gate["go"].wait()
        context.progress(1.0, "done")
        return "ok"

    async def go() -> list[tuple[str, str | None, float | None]]:
        gate["go"] = asyncio.Event()
        engine = _engine(tmp_path)
        engine.register(stepper)
        async with engine:
            task_id = await engine.submit("stepper")
            for _ in range(100):  # let it run up to the gate
                await asyncio.sleep(0.01)
                if engine.monitor.event_log and len(
                        engine.monitor.event_log.replay(task_id)) >= 3:
                    break
            seen: list[tuple[str, str | None, float | None]] = []

            async def follow() -> None:
                async for ev in engine.events(task_id):
                    seen.append((ev.kind, ev.status.value if ev.status else None, ev.fraction))

            follower = asyncio.create_task(follow())
            await asyncio.sleep(0.05)
            gate["go"].set()
            await asyncio.wait_for(follower, 5)
            await engine.wait(task_id)
            return seen

    seen = arun(go())
    kinds = [(k, s, f) for k, s, f in seen]
    assert kinds[0][0] == "status" and kinds[0][1] in ("queued", "running")
    progress = [f for k, _, f in kinds if k == "progress"]
    assert progress == [0.25, 0.5, 1.0]  # the two before subscribing were replayed
    assert kinds[-1] == ("status", "succeeded", None)
    assert len(kinds) == len(set(map(str, enumerate(kinds))))  # nothing twice (by position)
    statuses = [s for k, s, _ in kinds if k == "status"]
    assert statuses.count("succeeded") == 1


def test_event_log_is_bounded(tmp_path: Path) -> None:
    @skill(id="reporter", version="1.0.0")
    async def reporter(context: SkillContext) -> None:
        for i in range(20):
            context.progress(i / 20)

    async def go() -> tuple[int, int, int]:
        engine = _engine(tmp_path, event_log_max_per_task=8)
        engine.register(reporter)
        async with engine:
            log = engine.monitor.event_log
            assert log is not None
            log.max_ended = 5
            for _ in range(30):
                await engine.execute("reporter")
            for _ in range(30):
                await engine.execute("nap", {"ms": 0})  # no progress: nothing kept
            longest = max(len(k.progress) for k in log.kept.values())
            return len(log), longest, len(log._order)

    kept, longest, order = arun(go())
    assert kept == 5 and order == 5 and longest == 8


def test_monitor_disabled_costs_nothing(tmp_path: Path) -> None:
    async def go() -> None:
        engine = _engine(tmp_path)
        engine.monitor.reconfigure(MonitorSettings(enabled=False))
        assert engine.monitor not in engine.middleware
        assert engine.events_bus.log is None
        async with engine:
            assert (await engine.execute("nap", {"ms": 0})).ok
        assert engine.monitor.snapshot().skills == {}

    arun(go())


def test_metrics_serve_exposes_the_journal_registry(tmp_path: Path) -> None:
    # An empty data dir: it says so and serves (the journal's metrics, once there are any).
    import os
    import subprocess
    import sys
    import urllib.request

    env = {k: v for k, v in os.environ.items() if not k.startswith("SKILLEXEC_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "skillexec", "metrics", "serve", "--port", "0", "--duration",
         "20", "--data-dir", str(tmp_path / "d")], cwd=tmp_path, env=env,
        stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        assert "no journal at" in proc.stderr.readline()
        line = proc.stderr.readline()
        assert "serving metrics at http://127.0.0.1:" in line, line
        url = line.split(" at ", 1)[1].strip()
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read().decode()
        names = {f.name for f in text_string_to_metric_families(body)}
        assert {"skillexec_journal_tasks", "skillexec_journal_success_rate",
                "skillexec_journal_duration_seconds"} <= names
        assert "python_gc_objects_collected" not in body  # its own registry, not the global
    finally:
        proc.terminate()
        proc.wait(10)


def test_isolated_runner_metrics_reach_the_monitor(tmp_path: Path) -> None:
    from skillexec.skills.model import Isolation
    from tests._isolation import write_skill

    code = (
        "import time\n"
        "def execute(input_data):\n"
        "    block = bytearray(64 * 1024 * 1024)\n"
        "    for i in range(0, len(block), 4096):\n"
        "        block[i] = 1\n"
        "    end = time.process_time() + 0.05\n"
        "    while time.process_time() < end:\n"
        "        pass\n"
        "    return len(block)\n")
    sk = write_skill(tmp_path / "hog", code, isolation=Isolation.PROCESS, timeout_s=20,
                     memory_mb=512)

    async def go() -> tuple[object, object]:
        engine = _engine(tmp_path, trusted_skills=frozenset({"hog"}))
        engine.register(sk)
        async with engine:
            r = await engine.execute("hog")
            assert r.ok, r.error
            return r, engine.monitor.snapshot().skills["hog"]

    result, snap = arun(go())
    m = ExecutionMetrics.from_result(result)  # type: ignore[arg-type]
    assert m.cpu_ms is not None and m.cpu_ms >= 40.0
    assert m.max_rss_mb is not None and m.max_rss_mb >= 60.0
    assert m.cpu_percent is not None and 0 < m.cpu_percent <= 100.0 * 4
    assert m.disk_read_bytes is not None and m.disk_write_bytes is not None
    assert snap.max_rss_mb is not None and snap.max_rss_mb >= 60.0  # type: ignore[attr-defined]
    assert snap.cpu_ms_mean is not None and snap.cpu_ms_mean >= 40.0  # type: ignore[attr-defined]


def test_event_log_rebuilds_grace_and_progress_cap() -> None:
    from skillexec.events import EventLog, TaskEvent
    from skillexec.task import ExecutionTask, TaskInfo

    now = [100.0]
    log = EventLog(max_per_task=4, grace_s=5.0, max_ended=100, clock=lambda: now[0])
    live = ExecutionTask.of("a", Request("s", "1", {}, {}, 5, 1, 2, True, 90.0),
                            status=TaskStatus.RUNNING, attempts=2)
    live.started_at = 91.0
    log.live = {"a": live}.get
    log.retry_started("a", 95.0)
    for i in range(10):
        log.record(TaskEvent("a", "progress", TaskStatus.RUNNING, 2, fraction=i / 10,
                             at=96.0 + i / 100))
    got = [(e.kind, e.status.value if e.status else None, e.attempt, e.fraction, e.at)
           for e in log.replay("a")]
    assert got[:4] == [("status", "queued", 0, None, 90.0), ("status", "running", 1, None, 91.0),
                       ("status", "retrying", 1, None, 95.0),
                       ("status", "running", 2, None, 95.0)]
    progress = [f for k, _, _, f, _ in got if k == "progress"]
    assert len(progress) == 4 and progress[-1] == 0.9  # the latest replaces the previous
    # Ended: rebuilt from its journal record, with what the log kept, for the grace period.
    record = TaskInfo(task_id="a", skill_id="s", skill_version="1",
                      status=TaskStatus.SUCCEEDED, priority=5, attempts=2, created_at=90.0,
                      started_at=91.0, finished_at=99.0)
    log.live = lambda _id: None
    assert log.replay("a") == ()  # not live, no record given
    now[0] = 99.0
    log.ended("a")
    events = log.replay("a", record)
    assert events[-1].final and events[-1].at == 99.0 and events[0].status is TaskStatus.QUEUED
    assert [e.fraction for e in events if e.kind == "progress"] == progress
    assert events[2].at == 95.0  # the retry's time, kept
    log.ended("never-kept")  # a task the log kept nothing of: nothing to do
    assert len(log) == 1
    now[0] = 104.5  # past the grace: rebuilt without what was kept, and forgotten
    events = log.replay("a", record)
    assert [e.kind for e in events] == ["status"] * 5 and events[-1].final
    log.retry_started("b", 104.0)
    log.ended("b")
    assert len(log) == 1 and "a" not in log.kept
    ev = TaskEvent(task_id="x", kind="status", status=TaskStatus.QUEUED)
    assert ev.to_dict()["status"] == "queued" and ev.at > 0 and ev.data == {}
    with pytest.raises(AttributeError):
        ev.kind = "other"  # type: ignore[misc]


def test_late_subscriber_after_the_end_replays_from_the_journal(tmp_path: Path) -> None:
    # Ended tasks are rebuilt from their journal record, so a subscriber who comes after
    # the end still sees the whole task: queued, each attempt and retry, progress, the end.
    @skill(id="twice", version="1.0.0", max_retries=2)
    async def twice(context: SkillContext) -> str:
        context.progress(0.5, f"attempt {context.attempt}")
        if context.attempt == 1:
            raise ConnectionError("transient")
        return "ok"

    async def go() -> tuple[list[tuple[str, str | None, int]], list[str]]:
        engine = _engine(tmp_path)
        engine.register(twice)
        async with engine:
            result = await engine.execute("twice")
            assert result.ok and result.attempts == 2
            seen = [ev async for ev in engine.events(result.task_id)]
            plain = [ev async for ev in engine.events(
                (await engine.execute("nap", {"ms": 0})).task_id)]
        return ([(e.kind, e.status.value if e.status else None, e.attempt) for e in seen],
                [e.status.value for e in plain if e.status])

    seen, plain = arun(go())
    statuses = [(s, a) for k, s, a in seen if k == "status"]
    if statuses[0] == ("queued", 0):  # only when it waited for a slot
        statuses.pop(0)
    assert statuses == [("running", 1), ("retrying", 1), ("running", 2), ("succeeded", 2)]
    assert [a for k, _, a in seen if k == "progress"] == [1, 2]
    assert plain[-1] == "succeeded" and plain[0] in ("queued", "running")


def test_settings_from_env_and_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    # One environment scheme, EngineConfig's: SKILLEXEC_MONITOR__<KEY>
    from skillexec.config import load_config
    from skillexec.errors import ConfigError

    for key, value in (("ENABLED", "false"), ("MAX_SKILLS", "7"),
                       ("SENSITIVE_PARAMS", "pin, ssn"), ("LOG_FILE", "/tmp/x.log"),
                       ("WEBHOOK_URL", "http://127.0.0.1:1/h")):
        monkeypatch.setenv(f"SKILLEXEC_MONITOR__{key}", value)
    s = MonitorSettings.from_config(load_config())
    assert s.enabled is False and s.max_skills == 7
    assert s.sensitive_params == frozenset({"pin", "ssn"})
    assert str(s.log_file) == "/tmp/x.log" and s.webhook_url == "http://127.0.0.1:1/h"

    class Cfg:
        monitor = {"max_skills": 3, "sensitive_params": ["a"]}

    assert MonitorSettings.from_config(Cfg()).max_skills == 3
    assert MonitorSettings.from_config(object()) == MonitorSettings()
    # Bad settings are refused at once, naming the setting (not at the first call)
    for bad, named in (({"relative_accuracy": 0.001}, "relative_accuracy"),
                       ({"window_accuracy": 0.9}, "window_accuracy"),
                       ({"window_slots": 0}, "window_slots"),
                       ({"alert_interval_s": float("nan")}, "alert_interval_s"),
                       ({"event_log_grace_s": -1.0}, "event_log_grace_s"),
                       ({"max_skils": 3}, "max_skils")):
        with pytest.raises(ConfigError, match=named):
            MonitorSettings.from_dict(bad)
        with pytest.raises(ConfigError, match=named):
            load_config(monitor=bad)
    monkeypatch.setenv("SKILLEXEC_MONITOR__MAX_SKILLS", "ten")
    with pytest.raises(ConfigError, match=r"monitor\.max_skills"):
        load_config()


def test_batched_times_reach_every_reader_and_the_right_window_slot() -> None:
    # A call's times are folded in batches; every read (snapshot, exposition, window) and
    # every slot change folds what is pending first, so nothing is missed or misplaced.
    from skillexec.monitoring.stats import SkillStats

    st = SkillStats("s", accuracy=0.01, slot_s=10.0, slots=6)
    ok = TaskStatus.SUCCEEDED
    for _ in range(3):  # fewer than a batch, in the slot [100, 110)
        st.finished(105.0, ok, {"wall_ms": 2.0, "queue_ms": 5.0}, False)
    snap = st.snapshot()
    assert snap.total == 3 and snap.exec_p50_ms == pytest.approx(2.0, rel=0.01)
    assert snap.queue_p99_ms == pytest.approx(5.0, rel=0.01)
    st.finished(106.0, ok, {"wall_ms": 2.0, "queue_ms": 0.2}, False)  # pending...
    st.finished(111.0, TaskStatus.FAILED, {"wall_ms": 900.0}, False)  # ...then a new slot
    # The 2 ms calls stay in their slot: the last 10 s (slot [110, 120)) hold only 900 ms.
    assert st.window.quantile(111.0, 10.0, 0.5) == pytest.approx(900.0, rel=0.02)
    assert st.window.quantile(111.0, 20.0, 0.5) == pytest.approx(2.0, rel=0.02)
    assert st.window.totals(111.0, 20.0) == (5, 1)
    # queue quantiles of the window: waits of 5, 5, 5 and 0.2 ms, and the failed call that
    # has none, counted as zero
    assert st.window.quantile(111.0, 20.0, 0.0, queue=True) == 0.0
    assert st.window.quantile(111.0, 20.0, 0.25, queue=True) == pytest.approx(0.2, rel=0.02)
    assert st.window.quantile(111.0, 10.0, 0.5, queue=True) == 0.0  # only that call
    for _ in range(200):  # more than a batch: folded on the way, and the rest when read
        st.finished(112.0, ok, {"wall_ms": 40.0, "queue_ms": 0.1}, False)
    # Rejected (and cancelled) tasks are counted, but in no time statistic (stats.VERDICTS).
    st.finished(113.0, TaskStatus.REJECTED, {"queue_ms": 3.0}, False)
    st.finished(113.0, TaskStatus.CANCELLED, {"wall_ms": 5000.0, "queue_ms": 3.0}, False)
    st.flush()
    assert st.exec.count == 205 and st.queue.count == 204
    assert sum(st.exec_buckets) == 205 and sum(st.queue_buckets) == 204
    assert st.window.totals(113.0, 20.0) == (205, 1)


def test_event_log_keeps_the_latest_ended_tasks() -> None:
    from skillexec.events import EventLog

    now = [1000.0]
    log = EventLog(max_ended=3, grace_s=60.0, clock=lambda: now[0])

    def end(task_id: str) -> None:
        log.retry_started(task_id, now[0])
        log.ended(task_id)

    for t in ("a", "b", "c", "a", "d"):  # "a" ended twice: kept once, not twice
        end(t)
    assert sorted(log.kept) == ["b", "c", "d"]
    for i in range(1000):  # many more than kept: the oldest go first, in order
        end(f"t{i}")
    assert sorted(log.kept) == ["t997", "t998", "t999"]
    now[0] += 61.0  # past the grace: all go at the next end
    end("last")
    assert list(log.kept) == ["last"]


def test_progress_after_the_end_is_not_kept(tmp_path: Path) -> None:
    # A sync skill's thread outlives its timed-out task and goes on reporting progress:
    # the event log must not keep anything for a task that has already ended.
    @skill(id="lingers", version="1.0.0", timeout=0.05, max_retries=0)
    def lingers(context: SkillContext) -> str:
        for i in range(40):
            context.progress(i / 40)
            time.sleep(0.01)
        return "late"

    async def go() -> tuple[str, int, float | None]:
        engine = _engine(tmp_path)
        engine.register(lingers)
        async with engine:
            result = await engine.execute("lingers")
            await asyncio.sleep(0.5)  # the thread reports for a while after the end
            log = engine.monitor.event_log
            assert log is not None and result.task_id in log.kept  # it reported while live
            kept = log.kept[result.task_id]
            return result.status.value, len(kept.progress), kept.ended_at

    status, reported, ended_at = arun(go())
    assert status == "timed_out"
    assert ended_at is not None  # released after its grace, like any ended task
    assert 1 <= reported < 15  # what came before the end (about 5 of 40), nothing after
