"""``GET /api/alerts`` against a real server: a skill's error rate crosses a rule's threshold,
the service's own evaluation loop (no call to evaluate() here) fires the alert, the API shows
it active and in the history; the rate falls back, the alert resolves and leaves the active
list, and both stay in the journal's history."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from skillexec import skill
from tests._http import running

pytestmark = pytest.mark.timeout(120)

RULE = {"name": "flaky_errors", "metric": "error_rate", "condition": ">", "threshold": 0.5,
        "window_s": 300, "min_calls": 2, "cooldown_s": 600, "severity": "critical",
        "skill": "flaky"}
MONITOR = {"alert_interval_s": 0.1, "alert_rules": [RULE]}


@skill("flaky", max_retries=0, description="Fails when asked to")
def flaky(fail: bool = False) -> str:
    if fail:
        raise RuntimeError("asked to fail")
    return "fine"


def _until(read: Callable[[], dict[str, Any]], test: Callable[[dict[str, Any]], bool],
           timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data = read()
        if test(data) or time.monotonic() > deadline:
            return data
        time.sleep(0.05)


def test_an_error_rate_alert_fires_and_resolves_in_api_alerts(tmp_path) -> None:
    with running(tmp_path, monitor=MONITOR) as srv:
        async def add() -> None:
            srv.engine.register(flaky)

        srv.call(add())
        runner, viewer = srv.key("runner"), srv.key("viewer")
        with srv.client(viewer) as v:
            first = v.get("/api/alerts").json()
        data = first["data"]
        assert first["success"] is True
        assert data["evaluating"] is True and data["interval_s"] == 0.1  # before any call
        assert data["active"] == [] and data["recent"] == []
        assert [r["name"] for r in data["rules"]] == ["flaky_errors"]

        with srv.client(runner) as c:
            for _ in range(2):
                r = c.post("/api/skills/flaky/execute", json={"parameters": {"fail": True}})
                assert r.json()["data"]["status"] == "failed"

        def read() -> dict[str, Any]:
            with srv.client(viewer) as v:
                r = v.get("/api/alerts", params={"since": "1h"})
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()["data"]
            return body

        # firing() is the manager's memory, the history the journal's next group commit
        data = _until(read, lambda d: bool(d["active"]) and bool(d["recent"]))
        (active,) = data["active"]
        assert (active["rule"], active["subject"], active["state"]) == \
            ("flaky_errors", "flaky", "firing")
        assert active["value"] == 1.0 and active["threshold"] == 0.5
        assert active["severity"] == "critical" and "error_rate of flaky" in active["message"]
        assert [a["state"] for a in data["recent"]] == ["firing"]

        with srv.client(runner) as c:  # 2 failed of 6 (the loop may look at 2 of 4: a half)
            for _ in range(4):
                assert c.post("/api/skills/flaky/execute", json={}).status_code == 200
        data = _until(read, lambda d: not d["active"] and len(d["recent"]) == 2)
        assert data["active"] == []
        assert [(a["state"], a["subject"]) for a in data["recent"]] == \
            [("resolved", "flaky"), ("firing", "flaky")]  # newest first
        assert 1 / 3 <= data["recent"][0]["value"] <= 0.5

        with srv.client(viewer) as v:  # the bound: the newest only
            limited = v.get("/api/alerts", params={"limit": 1}).json()["data"]
            assert [a["state"] for a in limited["recent"]] == ["resolved"]
            assert limited["truncated"] is True
            r = v.get("/api/alerts", params={"since": "yesterday"})
            assert r.status_code == 422 and r.json()["error"]["field"] == "since"


def test_without_alerts_the_route_says_nothing_is_evaluated(tmp_path) -> None:
    with running(tmp_path, monitor={"alerts": False}) as srv, \
            srv.client(srv.key("viewer")) as v:
        data = v.get("/api/alerts").json()["data"]
    assert data["evaluating"] is False and data["active"] == [] and data["recent"] == []


def test_the_newest_are_listed_however_many_the_journal_holds(tmp_path) -> None:
    """The journal reads oldest first: more alerts than one page of it still list the newest."""
    with running(tmp_path, monitor={"alerts": False}) as srv:
        async def journal() -> None:
            for i in range(1205):
                await srv.engine.journal.append_event("alert", {
                    "rule": "r", "metric": "queue_depth", "subject": f"s{i}", "value": i,
                    "threshold": 0, "condition": ">", "severity": "info", "state": "firing",
                    "at": 1e9 + i, "message": f"number {i}"})
            await srv.engine.journal.append_event("alert", {"state": "unknown"})  # skipped

        srv.call(journal(), timeout=120)
        with srv.client(srv.key("viewer")) as v:
            data = v.get("/api/alerts", params={"since": "all", "limit": 3}).json()["data"]
    assert [a["subject"] for a in data["recent"]] == ["s1204", "s1203", "s1202"]
    assert data["recent"][0]["at"] == 1e9 + 1204 and data["truncated"] is True
