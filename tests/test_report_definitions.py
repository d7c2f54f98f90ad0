"""One definition of each statistic (issue 12 item 6): the summary's overall and per-skill
success rates, the performance percentiles and the live monitor agree on the same data;
cancelled and rejected tasks are in none of them; times read as a person writes them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skillexec import SkillExecutionEngine, TaskStatus, skill
from skillexec.monitoring.reports import ExecutionReportGenerator
from tests.conftest import ROOT, arun


@skill(id="mixed", version="1.0.0", max_retries=0, timeout=30)
async def mixed(n: int, seconds: float = 0.0) -> int:
    await asyncio.sleep(seconds)
    if n % 3 == 0:
        raise ValueError("a third of them fail")
    return n


def _fill(data_dir: Path) -> dict[str, object]:
    async def go() -> dict[str, object]:
        async with SkillExecutionEngine(data_dir=data_dir) as engine:
            engine.register(mixed)
            for n in range(1, 7):  # 4 succeed, 2 fail
                await engine.execute("mixed", {"n": n})
            for _ in range(10):  # refused before running: not a verdict on the skill
                r = await engine.execute("mixed", {"n": "not a number"})
                assert r.status is TaskStatus.REJECTED
            long = await engine.submit("mixed", {"n": 1, "seconds": 5})
            await asyncio.sleep(0.6)
            await engine.cancel(long)  # ran 0.6 s: the caller's choice, not a latency
            assert (await engine.wait(long)).status is TaskStatus.CANCELLED
            snap = engine.monitor.snapshot().skills["mixed"]
            gen = ExecutionReportGenerator(engine.journal)
            return {"live_rate": snap.success_rate, "live_p99": snap.exec_p99_ms,
                    "summary": await gen.summary(), "performance": await gen.performance()}

    return arun(go())


def test_every_report_and_the_monitor_agree(tmp_path: Path) -> None:
    got = _fill(tmp_path / "d")
    summary = got["summary"]
    assert isinstance(summary, dict)
    (row,) = summary["busiest_skills"]
    assert summary["success_rate"] == pytest.approx(4 / 6)
    assert row["success_rate"] == summary["success_rate"] == got["live_rate"]
    assert (row["succeeded"], row["failed"], row["cancelled"], row["rejected"]) == (4, 2, 1, 10)
    perf = got["performance"]
    assert isinstance(perf, dict)
    (p,) = perf["skills"]
    assert p["measured"] == 6 and p["max_ms"] < 500  # the cancelled 600 ms is not in it
    assert got["live_p99"] is not None and got["live_p99"] < 500
    assert all(s["status"] != "cancelled" for s in perf["slowest"])


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_reports_print_times_a_person_reads(tmp_path: Path) -> None:
    _fill(tmp_path / "d")
    out = tmp_path / "perf.html"
    r = _cli("report", "performance", "--since", "24h", "-f", "html", "-o", str(out),
             "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    assert "finished tasks per 1 h" in page  # 24 h in 24 bins, not "3.6e+03 s"
    assert not re.search(r"\d\.?\d*e[+-]\d", page)
    r = _cli("report", "performance", "--since", "24h", "--data-dir", str(tmp_path / "d"),
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "(1 h bins)" in r.stdout and re.search(r"\d+(\.\d+)? (µs|ms)", r.stdout)
    r = _cli("report", "summary", "-f", "json", "--data-dir", str(tmp_path / "d"),
             cwd=tmp_path)
    body = json.loads(r.stdout)
    assert body["success_rate"] == body["busiest_skills"][0]["success_rate"]


@skill(id="outcome", version="1.0.0", max_retries=0, timeout=0.05)
async def outcome(what: str) -> str:
    if what == "fail":
        raise ValueError("asked to fail")
    if what in ("timeout", "cancel"):
        await asyncio.sleep(1)
    return what


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["ok", "fail", "timeout", "reject", "cancel"]), max_size=10))
def test_success_rate_is_one_number_whatever_happened(tmp_path: Path, whats: list[str]) -> None:
    """For any mix of outcomes: the summary (overall and per skill), the live monitor and the
    journal's Prometheus metrics give the same success rate, and it is the definition's."""
    from prometheus_client import generate_latest

    from skillexec.monitoring.journal_metrics import metrics_registry

    data = tmp_path / f"d{len(list(tmp_path.iterdir()))}"

    async def go() -> tuple[object, object, object, str]:
        async with SkillExecutionEngine(data_dir=data) as engine:
            engine.register(outcome)
            for what in whats:
                if what == "reject":
                    await engine.execute("outcome", {"what": 1})
                elif what == "cancel":
                    task_id = await engine.submit("outcome", {"what": what}, timeout=30)
                    await asyncio.sleep(0.01)
                    await engine.cancel(task_id)
                    await engine.wait(task_id)
                else:
                    await engine.execute("outcome", {"what": what})
            summary = await ExecutionReportGenerator(engine.journal).summary()
            live = engine.monitor.snapshot().skills.get("outcome")
            text = generate_latest(metrics_registry(journal=engine.config.journal_path))
            return (summary["success_rate"],
                    summary["busiest_skills"][0]["success_rate"] if whats else None,
                    live.success_rate if live else None, text.decode())

    overall, per_skill, live, text = arun(go())
    decided = sum(w in ("ok", "fail", "timeout") for w in whats)
    expected = whats.count("ok") / decided if decided else None
    assert overall == per_skill == live == expected
    found = re.search(r'skillexec_journal_success_rate\{skill="outcome"\} (\S+)', text)
    assert (float(found.group(1)) if found else None) == pytest.approx(expected)
