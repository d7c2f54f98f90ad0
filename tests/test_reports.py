"""Reports from a real journal: summary, performance, one task; table, JSON and HTML (the
HTML opened in headless Chromium to check that its charts render)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skillexec import EngineConfig, SkillContext, SkillExecutionEngine, skill
from skillexec.cli.app import app
from skillexec.monitoring.report_render import to_html, to_json, to_table
from skillexec.monitoring.reports import ExecutionReportGenerator, parse_since
from skillexec.monitoring.settings import MonitorSettings
from skillexec.storage.sqlite import SQLiteStore
from tests._browser import CHROMIUM_ARGS, chromium, playwright_or_skip
from tests.conftest import arun

_tries: dict[str, int] = {}


@skill(id="fast", version="1.0.0")
async def fast(n: int = 0) -> int:
    await asyncio.sleep(0.001)
    return n


@skill(id="slow", version="1.0.0")
async def slow(context: SkillContext) -> str:
    await asyncio.sleep(0.2)  # far above a fast call's time, even on a loaded machine
    context.save_artifact("result.csv", "a,b\n1,2\n", "text/csv")
    return "done"


@skill(id="wobbly", version="1.0.0", max_retries=2)
async def wobbly(key: str) -> str:
    _tries[key] = _tries.get(key, 0) + 1
    if _tries[key] < 2:
        raise ConnectionError("upstream reset")
    return "fine"


@skill(id="bad", version="1.0.0", max_retries=0)
async def bad() -> None:
    raise KeyError("missing thing")


def _journal(tmp: Path) -> dict[str, str]:
    """Run a known mix through an engine; return some task ids."""
    data = tmp / "data"

    async def go() -> dict[str, str]:
        cfg = EngineConfig(data_dir=data, retry_base_delay_s=0.0, retry_max_delay_s=0.0)
        engine = SkillExecutionEngine(config=cfg)
        engine.monitor.reconfigure(MonitorSettings(alerts=False))
        for fn in (fast, slow, wobbly, bad):
            engine.register(fn)
        async with engine:
            await asyncio.gather(*(engine.execute("fast", {"n": i}) for i in range(12)))
            s = await engine.execute("slow")
            w = await engine.execute("wobbly", {"key": str(tmp)})
            b = await engine.execute("bad")
            await engine.execute("bad")
            await engine.execute("fast", {"n": "nope"})
            engine.journal.append_event("alert", {"rule": "skill_error_rate", "subject": "bad",
                                                 "state": "firing", "severity": "warning",
                                                 "metric": "error_rate", "value": 1.0,
                                                 "threshold": 0.2, "message": "bad fails"})
            return {"slow": s.task_id, "wobbly": w.task_id, "bad": b.task_id}

    return arun(go())


async def _reports(data: Path, ids: dict[str, str]) -> dict[str, dict[str, object]]:
    store = SQLiteStore(data / "journal.db")
    await store.open()
    try:
        g = ExecutionReportGenerator(store)
        return {"summary": await g.summary(), "performance": await g.performance(),
                "task": await g.detailed(ids["wobbly"]), "slow": await g.detailed(ids["slow"]),
                "alerts": await g.alerts()}
    finally:
        await store.close()


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("reports")
    return tmp / "data", _journal(tmp)


def test_reports_from_the_journal(journal: tuple[Path, dict[str, str]]) -> None:
    data, ids = journal
    r = arun(_reports(data, ids))
    s = r["summary"]
    assert s["total"] == 17 and s["finished"] == 17
    assert s["by_status"] == {"succeeded": 14, "failed": 2, "rejected": 1}
    assert s["success_rate"] == pytest.approx(14 / 16)
    top = {(e["type"], e["code"]): e["count"] for e in s["top_errors"]}  # type: ignore[attr-defined]
    assert top[("execution_error", "skill_raised")] == 2
    assert top[("parameter_error", "invalid_parameters")] == 1
    busiest = s["busiest_skills"][0]  # type: ignore[index]
    assert busiest["skill"] == "fast" and busiest["calls"] == 13
    assert s["alerts"] == {"count": 1, "by_rule": {"skill_error_rate": 1}}

    p = r["performance"]
    per = {row["skill"]: row for row in p["skills"]}  # type: ignore[attr-defined]
    assert per["fast"]["calls"] == 13
    assert per["slow"]["p50_ms"] >= 30.0
    assert per["fast"]["p99_ms"] >= per["fast"]["p50_ms"]
    assert p["slowest"][0]["skill"] == "slow"  # type: ignore[index]
    assert sum(p["throughput"]["calls"]) == 17  # type: ignore[index]

    t = r["task"]
    assert t["status"] == "succeeded" and t["attempts_count"] == 2
    assert [a["error"] is not None for a in t["attempts"]] == [True, False]  # type: ignore[attr-defined]
    assert t["metrics"]["error_count"] == 1 and t["metrics"]["attempt_success_rate"] == 0.5  # type: ignore[index]
    phases = [ph["phase"] for ph in t["timeline"]]  # type: ignore[attr-defined]
    assert phases[:3] == ["submitted", "queued", "attempt 1"] and "attempt 2" in phases
    assert t["errors"][0]["type"] == "network_error"  # type: ignore[index]
    assert r["slow"]["artifacts"][0]["name"] == "result.csv"  # type: ignore[index]
    assert r["alerts"]["alerts"][0]["rule"] == "skill_error_rate"  # type: ignore[index]

    for rep in r.values():  # every format renders
        json.loads(to_json(rep))
        assert to_table(rep) is not None
        assert to_html(rep).startswith("<!doctype html>")


def test_parse_since() -> None:
    assert parse_since("1h", now=10_000.0) == 6400.0
    assert parse_since("30m", now=10_000.0) == 8200.0
    assert parse_since("all") is None
    assert parse_since("2026-01-02T00:00:00+00:00") == 1767312000.0
    with pytest.raises(ValueError):
        parse_since("yesterday-ish")


def test_report_cli(journal: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    data, ids = journal
    runner = CliRunner()
    res = runner.invoke(app, ["report", "summary", "--since", "1h", "--format", "json",
                              "--data-dir", str(data)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["total"] == 17
    res = runner.invoke(app, ["report", "performance", "--data-dir", str(data)])
    assert res.exit_code == 0 and "slowest calls" in res.stdout
    res = runner.invoke(app, ["report", "task", ids["bad"], "--data-dir", str(data)])
    assert res.exit_code == 0 and "skill_raised" in res.stdout
    res = runner.invoke(app, ["report", "alerts", "--format", "json", "--data-dir", str(data)])
    assert json.loads(res.stdout)["total"] == 1
    out = tmp_path / "perf.html"
    res = runner.invoke(app, ["report", "performance", "--format", "html", "-o", str(out),
                              "--data-dir", str(data)])
    assert res.exit_code == 0 and out.read_text().count("<svg") >= 2
    res = runner.invoke(app, ["report", "task", "nope", "--data-dir", str(data)])
    assert res.exit_code == 2


def test_html_charts_render_in_chromium(journal: tuple[Path, dict[str, str]],
                                        tmp_path: Path) -> None:
    sync_playwright = playwright_or_skip()
    data, ids = journal
    r = arun(_reports(data, ids))
    pages = {}
    for name in ("summary", "performance", "task"):
        path = tmp_path / f"{name}.html"
        path.write_text(to_html(r[name]), encoding="utf-8")
        pages[name] = path
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            blocked: list[str] = []
            page.on("request", lambda req: blocked.append(req.url)
                    if not req.url.startswith("file:") else None)
            for name, path in pages.items():
                page.goto(path.as_uri())
                charts = page.locator("svg.chart")
                assert charts.count() >= 1, name
                for i in range(charts.count()):
                    box = charts.nth(i).bounding_box()
                    assert box is not None and box["width"] > 100 and box["height"] > 50
                marks = page.locator("svg.chart rect, svg.chart polyline, svg.chart circle")
                assert marks.count() >= 3, name
                mark = marks.first.bounding_box()
                assert mark is not None and mark["width"] > 0 and mark["height"] > 0
            assert blocked == []  # self-contained: nothing fetched from the network
        finally:
            browser.close()
