"""Alert rules firing and not firing, with a controllable clock; notifiers; the journal."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from skillexec import EngineConfig, SkillExecutionEngine, skill
from skillexec.monitoring.notifiers import CallbackNotifier, WebhookNotifier
from skillexec.monitoring.rules import Alert, AlertRule
from skillexec.monitoring.settings import MonitorSettings
from tests.conftest import arun


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@skill(id="flip", version="1.0.0", max_retries=0, timeout=5)
async def flip(fail: bool = False) -> str:
    if fail:
        raise RuntimeError("asked to fail")
    return "ok"


# 85% of its timeout: a loaded machine wakes the sleep late, by tens of ms, and the margin
# to the timeout (and to the 0.99 rule) must stay above that.
@skill(id="laggy", version="1.0.0", timeout=1.0, max_retries=0)
async def laggy() -> str:
    await asyncio.sleep(0.85)
    return "late-ish"


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    _Hook.received = []
    _Hook.fail_first = 0
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alerts"
    finally:
        server.shutdown()
        server.server_close()


def _engine(tmp: Path, clock: Clock, rules: list[AlertRule], **kw: Any) -> SkillExecutionEngine:
    engine = SkillExecutionEngine(config=EngineConfig(data_dir=tmp / "d"))
    engine.monitor.reconfigure(MonitorSettings(alert_rules=tuple(rules),
                                               alert_interval_s=3600, **kw), clock=clock)
    engine.register(flip)
    engine.register(laggy)
    return engine


def test_error_rate_fires_dedupes_resolves_and_cools_down(tmp_path: Path, webhook: str) -> None:
    clock = Clock()
    got: list[Alert] = []
    rule = AlertRule("errors", "error_rate", ">", 0.5, window_s=60, min_calls=4,
                     cooldown_s=600, severity="critical")

    async def go() -> list[list[tuple[str, str, str]]]:
        engine = _engine(tmp_path, clock, [rule], webhook_url=webhook)
        alerts = engine.monitor.alerts
        assert alerts is not None
        alerts.add_notifier(CallbackNotifier(got.append))
        for n in alerts.notifiers:
            if isinstance(n, WebhookNotifier):
                n.backoff_s = 0.01
        _Hook.fail_first = 1  # the first POST gets a 503: the notifier retries
        rounds: list[list[tuple[str, str, str]]] = []

        async def evaluate() -> None:
            fired = await engine.monitor.evaluate_alerts()
            rounds.append([(a.rule, a.subject, a.state) for a in fired])

        async with engine:
            for _ in range(4):
                await engine.execute("flip", {"fail": False})
            await evaluate()  # 0% errors: nothing
            for _ in range(6):
                await engine.execute("flip", {"fail": True})
            await evaluate()  # 60%: fires
            assert [(a.key, a.state) for a in alerts.firing()] == [(("errors", "flip"), "firing")]
            await evaluate()  # still breached: deduplicated
            clock.now += 61  # a fresh window
            for _ in range(5):
                await engine.execute("flip", {"fail": False})
            await evaluate()  # 0%: resolved
            assert alerts.firing() == []
            for _ in range(10):
                await engine.execute("flip", {"fail": True})
            await evaluate()  # breached again within the cooldown: not sent
            (held,) = alerts.firing()  # ... but firing (GET /api/alerts shows it)
            assert held.key == ("errors", "flip") and held.value == pytest.approx(10 / 15)
            clock.now += 601
            for _ in range(5):
                await engine.execute("flip", {"fail": True})
            await evaluate()  # after the cooldown: sent again
            history = await engine.journal.read_events("alert")
        assert [e["data"]["state"] for e in history] == ["firing", "resolved", "firing"]
        return rounds

    rounds = arun(go())
    assert rounds == [[], [("errors", "flip", "firing")], [], [("errors", "flip", "resolved")],
                      [], [("errors", "flip", "firing")]]
    assert [a.state for a in got] == ["firing", "resolved", "firing"]
    assert got[0].severity == "critical" and got[0].value == pytest.approx(0.6)
    # the webhook got all three, the first after a retry
    assert [r["alert"]["state"] for r in _Hook.received] == ["firing", "resolved", "firing"]
    assert _Hook.received[0]["alert"]["subject"] == "flip"


def test_engine_rules_fire_and_do_not_fire(tmp_path: Path) -> None:
    clock = Clock()
    rules = [
        AlertRule("near_timeout", "p95_timeout_ratio", ">", 0.8, window_s=60, min_calls=3),
        AlertRule("fast_enough", "p95_timeout_ratio", ">", 0.99, window_s=60, min_calls=3),
        AlertRule("depth_any", "queue_depth", ">", -1),
        AlertRule("depth_big", "queue_depth", ">", 1000),
        AlertRule("wait_any", "queue_wait_p95_ms", ">=", 0.0, min_calls=1),
        AlertRule("wait_big", "queue_wait_p95_ms", ">", 5000, min_calls=1),
        AlertRule("mem_any", "system_memory_percent", ">", 0),
        AlertRule("mem_full", "system_memory_percent", ">", 100),
        AlertRule("cpu_full", "system_cpu_percent", ">", 100),
    ]

    async def go() -> tuple[set[tuple[str, str]], set[tuple[str, str, str]]]:
        engine = _engine(tmp_path, clock, rules)
        async with engine:
            await asyncio.gather(*(engine.execute("laggy") for _ in range(3)))
            first = await engine.monitor.evaluate_alerts()
            clock.now += 3600  # every window empties: what fired resolves
            second = await engine.monitor.evaluate_alerts()
        return ({(a.rule, a.subject) for a in first},
                {(a.rule, a.subject, a.state) for a in second})

    first, second = arun(go())
    assert first == {("near_timeout", "laggy"), ("depth_any", "engine"), ("wait_any", "engine"),
                     ("mem_any", "system")}
    assert ("near_timeout", "laggy", "resolved") not in second  # emptied, not resolved


@skill(id="down", version="1.0.0", max_retries=0, timeout=5)
async def down() -> str:
    raise ConnectionError("the service it depends on is down")


def test_a_real_breaker_opens_its_gauge_and_alert(tmp_path: Path) -> None:
    """A failing skill called until its breaker opens: gauge, default alert, journal."""
    config = EngineConfig(data_dir=tmp_path / "d", reliability={
        "breaker_consecutive_failures": 3, "breaker_open_s": 3600})

    async def go() -> None:
        engine = SkillExecutionEngine(config=config)
        engine.monitor.reconfigure(MonitorSettings(alert_interval_s=3600))
        engine.register(down)
        got: list[Alert] = []
        async with engine:
            assert engine.monitor.alerts is not None
            engine.monitor.alerts.add_notifier(CallbackNotifier(got.append))
            codes = [(await engine.execute("down")).error for _ in range(5)]
            assert [e.code if e else None for e in codes][-1] == "circuit_open"
            assert 'skillexec_circuit_state{skill="down"} 2.0' in \
                engine.monitor.prometheus_text()
            fired = await engine.monitor.evaluate_alerts()
            assert ("circuit_opened", "down", "firing") in \
                {(a.rule, a.subject, a.state) for a in fired}
            await engine.error_handler.flush()
        # Another process (a report, `metrics serve`) learns the state from the journal.
        other = SkillExecutionEngine(config=config)
        other.monitor.reconfigure(MonitorSettings(alert_interval_s=3600))
        async with other:
            assert other.monitor.alerts is not None
            await other.monitor.alerts.poll_circuits()
            assert other.monitor.circuits == {"down": "open"}

    arun(go())


def test_rules_from_settings_and_validation() -> None:
    s = MonitorSettings.from_dict({"alert_rules": [
        {"name": "x", "metric": "error_rate", "condition": ">=", "threshold": 0.1,
         "window_s": 30, "severity": "info", "cooldown_s": 5}]})
    assert s.alert_rules[0].breached(0.1) and not s.alert_rules[0].breached(0.05)
    with pytest.raises(ValueError, match="unknown metric"):
        AlertRule("y", "latency_vibes")
    with pytest.raises(ValueError, match="unknown condition"):
        AlertRule("y", "error_rate", "~")
    assert {r.metric for r in MonitorSettings().alert_rules} >= {
        "error_rate", "p95_timeout_ratio", "queue_depth", "queue_wait_p95_ms",
        "system_memory_percent", "system_cpu_percent", "circuit_open"}
