"""OpenTelemetry spans (the [otel] extra), checked with the SDK's in-memory exporter."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from skillexec import EngineConfig, SkillContext, SkillExecutionEngine, skill
from skillexec.monitoring.settings import MonitorSettings
from skillexec.monitoring.tracing import TracingMiddleware, tracing_middleware
from tests.conftest import arun

seen_trace: dict[str, str] = {}


@skill(id="traced", version="1.0.0")
async def traced(context: SkillContext) -> str:
    seen_trace.update(context.trace)
    context.save_artifact("out.txt", "hello", "text/plain")
    return "ok"


def test_no_provider_means_no_middleware() -> None:
    # Without a configured SDK provider (or without the package) tracing costs nothing.
    assert tracing_middleware(False) is None
    pytest.importorskip("opentelemetry")
    from opentelemetry import trace

    if type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider":
        assert tracing_middleware(True) is None


def test_spans_and_traceparent(tmp_path: Path) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace",
                              reason="opentelemetry-sdk not installed (pip install .[otel])")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def go() -> str:
        engine = SkillExecutionEngine(config=EngineConfig(data_dir=tmp_path / "d"))
        engine.monitor.reconfigure(MonitorSettings(alerts=False), tracer_provider=provider)
        assert isinstance(engine.monitor.tracing, TracingMiddleware)
        engine.register(traced)
        async with engine:
            r = await engine.execute("traced")
            assert r.ok
            return r.task_id

    task_id = arun(go())
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) >= {"skillexec.task", "skillexec.queue", "skillexec.attempt",
                          "skillexec.runner", "skillexec.artifacts"}
    root = spans["skillexec.task"]
    assert root.attributes is not None and root.attributes["skillexec.task_id"] == task_id
    trace_id = root.context.trace_id
    for name in ("skillexec.queue", "skillexec.attempt", "skillexec.artifacts"):
        assert spans[name].context.trace_id == trace_id
        assert spans[name].parent is not None
        assert spans[name].parent.span_id == root.context.span_id
    runner = spans["skillexec.runner"]
    assert runner.parent is not None
    assert runner.parent.span_id == spans["skillexec.attempt"].context.span_id
    # the skill saw the runner span's W3C trace context
    tp = seen_trace["traceparent"]
    version, tid, sid, _flags = tp.split("-")
    assert version == "00" and int(tid, 16) == trace_id and int(sid, 16) == \
        runner.context.span_id


def _provider() -> tuple[Any, Any]:
    sdk = pytest.importorskip("opentelemetry.sdk.trace",
                              reason="opentelemetry-sdk not installed (pip install .[otel])")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@skill(id="saver", version="1.0.0")
def saver(context: SkillContext) -> int:
    # A sync skill: its saves run in a worker thread. Big enough that a save takes time.
    context.save_artifact("a.bin", os.urandom(4 * 1024 * 1024))
    time.sleep(0.05)  # a gap between the saves: the artifacts span must cover both
    context.save_artifact("b.txt", "x" * 1000, "text/plain")
    return 2


def test_artifacts_span_times_the_saves(tmp_path: Path) -> None:
    provider, exporter = _provider()

    async def go() -> None:
        engine = SkillExecutionEngine(config=EngineConfig(data_dir=tmp_path / "d"))
        engine.monitor.reconfigure(MonitorSettings(alerts=False), tracer_provider=provider)
        engine.register(saver)
        async with engine:
            r = await engine.execute("saver")
            assert r.ok and len(r.artifacts) == 2
            # A reconfigured monitor leaves no observer of its old tracing behind.
            engine.monitor.reconfigure(MonitorSettings(alerts=False, tracing=False))
            assert engine.artifacts._observers == ()

    arun(go())
    spans = exporter.get_finished_spans()
    art = next(s for s in spans if s.name == "skillexec.artifacts")
    saves = sorted((s for s in spans if s.name == "skillexec.artifact.save"),
                   key=lambda s: s.start_time)
    runner = next(s for s in spans if s.name == "skillexec.runner")
    assert [s.attributes["skillexec.artifact.name"] for s in saves] == ["a.bin", "b.txt"]
    for s in saves:
        assert s.parent is not None and s.parent.span_id == art.context.span_id
        assert s.end_time > s.start_time  # a real duration, not an instant
    # The artifacts span runs from the first save's start to the last save's end, inside the
    # attempt (the saves happened while the skill ran), gap included.
    assert art.start_time == saves[0].start_time and art.end_time == saves[1].end_time
    assert runner.start_time <= art.start_time and art.end_time <= runner.end_time
    assert art.end_time - art.start_time >= 50_000_000
    assert art.attributes["skillexec.artifacts.count"] == 2
    assert art.attributes["skillexec.artifacts.bytes"] == 4 * 1024 * 1024 + 1000
    save_ms = art.attributes["skillexec.artifacts.save_ms"]
    assert 0 < save_ms < (art.end_time - art.start_time) / 1e6  # the gap is not a save


def test_artifact_manager_observers(tmp_path: Path) -> None:
    from skillexec.artifacts import ArtifactManager

    class Store:
        def artifact(self, record: Any) -> None:
            self.record = record

    seen: list[tuple[Any, ...]] = []

    def boom(*_: Any) -> None:
        raise RuntimeError("observer bug")

    def keep(*args: Any) -> None:
        seen.append(args)

    am = ArtifactManager(tmp_path, Store(), max_bytes=100)  # type: ignore[arg-type]
    am.add_observer(boom)  # a failing observer neither fails the save nor hides the next one
    am.add_observer(keep)
    ref = am.save("x.txt", b"hello", task_id="t1")
    (task_id, got, start, end), = seen
    assert (task_id, got) == ("t1", ref) and 0 < start <= end
    am.remove_observer(keep)
    am.remove_observer(boom)
    am.save("y.txt", b"bye")
    assert len(seen) == 1


def test_traceparent_reaches_a_process_isolated_skill(tmp_path: Path) -> None:
    provider, exporter = _provider()
    folder = tmp_path / "skills" / "trace-echo"
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps({
        "skill_id": "trace-echo", "version": "1.0.0",
        "description": "Returns the trace context it was given.",
        "entry_point": "main.execute", "execution": {"isolation": "process", "timeout": 30}}))
    (folder / "main.py").write_text(
        "import os\n"
        "def execute(input_data, context):\n"
        "    return {'trace': dict(context.trace), 'pid': os.getpid()}\n")

    async def go() -> Any:
        engine = SkillExecutionEngine(config=EngineConfig(
            data_dir=tmp_path / "d", trusted_skills=frozenset({"trace-echo"})))
        engine.monitor.reconfigure(MonitorSettings(alerts=False), tracer_provider=provider)
        engine.register(folder)
        assert engine.isolation_of(engine.skills.get("trace-echo")) == "process"
        async with engine:
            r = await engine.execute("trace-echo")
            assert r.ok, r.error
            return r.output

    out = arun(go())
    assert out["pid"] != os.getpid()  # it ran in a child process
    runner = next(s for s in exporter.get_finished_spans() if s.name == "skillexec.runner")
    assert runner.attributes is not None and runner.attributes["skillexec.runner"] == "process"
    version, tid, sid, flags = out["trace"]["traceparent"].split("-")
    assert version == "00" and int(flags, 16) == int(runner.context.trace_flags)
    assert int(tid, 16) == runner.context.trace_id
    assert int(sid, 16) == runner.context.span_id
