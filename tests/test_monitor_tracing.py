"""OpenTelemetry spans (the [otel] extra), checked with the SDK's in-memory exporter."""

from __future__ import annotations

from pathlib import Path

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
