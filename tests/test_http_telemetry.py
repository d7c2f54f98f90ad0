"""FastAPI's own OpenTelemetry follows the engine's tracing setting: request spans when the
engine traces, none (and no per-request provider lookups) when it does not.

Each case runs in a fresh interpreter: OpenTelemetry's global tracer provider can be set
only once per process, and every other test's engine would start tracing with it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = textwrap.dedent("""
    import json, sys
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from starlette.testclient import TestClient
    from skillexec import EngineConfig, SkillExecutionEngine, skill
    from skillexec.service import create_app
    from skillexec.service.app import served

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    @skill(id="noop")
    def noop() -> None:
        return None

    engine = SkillExecutionEngine(config=EngineConfig(
        data_dir=sys.argv[1], monitor={"tracing": sys.argv[2] == "on", "alerts": False}))
    engine.register(noop)
    # localhost: a server that asks no key answers no other host ("testserver")
    with TestClient(served(create_app(engine, insecure_no_auth=True)),
                    base_url="http://localhost") as client:  # as served
        assert client.get("/health").status_code == 200
        r = client.post("/api/skills/noop/execute", json={})
        assert r.status_code == 200, r.text
    print(json.dumps(sorted({s.name for s in exporter.get_finished_spans()})))
""")


def _spans(tmp_path: Path, tracing: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / tracing), tracing],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    names: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return names


def test_fastapi_request_spans_only_when_the_engine_traces(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.sdk.trace", reason="the [otel] extra")
    traced = _spans(tmp_path, "on")
    assert "skillexec.task" in traced  # the engine's own
    assert any(name.startswith("GET /health") for name in traced), traced  # FastAPI's
    # the execute route too, though the server answers it before the app when untraced
    assert "POST" in traced, traced
    untraced = _spans(tmp_path, "off")
    assert untraced == [], untraced
