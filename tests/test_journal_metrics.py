"""`metrics serve/show` export what happened on a data directory, not an idle engine of their
own (issue 12 item 13); the same collector serves beside an engine's live metrics."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from skillexec import EngineConfig, SkillExecutionEngine, skill
from skillexec.monitoring.journal_metrics import JournalCollector, metrics_registry
from tests.conftest import ROOT, arun


@skill(id="tally", version="1.0.0", max_retries=0)
async def tally(n: int) -> int:
    if n < 0:
        raise ConnectionError("the ledger is down")
    return n


def _run_some(data_dir: Path) -> None:
    config = EngineConfig(data_dir=data_dir, reliability={"breaker_consecutive_failures": 2,
                                                          "breaker_open_s": 3600})

    async def go() -> None:
        async with SkillExecutionEngine(config=config) as engine:
            engine.register(tally)
            for n in (1, 2, 3):
                await engine.execute("tally", {"n": n})
            for _ in range(2):
                await engine.execute("tally", {"n": -1})  # two failures open its breaker
            await engine.error_handler.flush()

    arun(go())


def _cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_metrics_show_and_serve_what_the_journal_holds(tmp_path: Path) -> None:
    data = tmp_path / "d"
    _run_some(data)
    shown = _cli("metrics", "show", "--data-dir", str(data), cwd=tmp_path)
    out, err = shown.communicate(timeout=60)
    assert shown.returncode == 0, err
    assert 'skillexec_journal_tasks{skill="tally",status="succeeded"} 3.0' in out
    assert 'skillexec_journal_tasks{skill="tally",status="failed"} 2.0' in out
    assert 'skillexec_journal_success_rate{skill="tally"} 0.6' in out
    assert 'skillexec_journal_duration_seconds_count{skill="tally"} 5.0' in out
    assert 'skillexec_journal_circuit_state{skill="tally"} 2.0' in out
    served = _cli("metrics", "serve", "--port", "0", "--duration", "30", "--data-dir",
                  str(data), cwd=tmp_path)
    try:
        assert served.stderr is not None
        line = ""
        deadline = time.monotonic() + 20
        while "serving metrics at" not in line and time.monotonic() < deadline:
            line = served.stderr.readline()
        url = re.search(r"http://\S+/metrics", line)
        assert url is not None, line
        _run_some(data)  # more runs, by another engine, while it serves: counted as well
        body = urllib.request.urlopen(url.group(0), timeout=10).read().decode()
        assert 'skillexec_journal_tasks{skill="tally",status="succeeded"} 6.0' in body
    finally:
        served.terminate()
        served.wait(10)


def test_one_registry_serves_the_journal_and_a_live_engine(tmp_path: Path) -> None:
    data = tmp_path / "d"
    _run_some(data)

    async def go() -> str:
        async with SkillExecutionEngine(data_dir=data) as engine:
            engine.register(tally)
            await engine.execute("tally", {"n": 7})
            return generate_latest(metrics_registry(
                journal=engine.config.journal_path, engine=engine)).decode()

    text = arun(go())
    assert 'skillexec_executions_total{skill="tally",status="succeeded"} 1.0' in text  # live
    assert 'skillexec_journal_tasks{skill="tally",status="succeeded"} 4.0' in text  # all runs


@pytest.mark.parametrize("recent_s", [0.0, 5.0])
def test_scrapes_count_each_task_once(tmp_path: Path, recent_s: float) -> None:
    # recent_s=0: every task is folded into the totals at once (as tasks older than a few
    # seconds are); 5: they are all tallied afresh at each scrape. Same numbers either way.
    data = tmp_path / "d"
    registry = CollectorRegistry()
    registry.register(JournalCollector(data / "journal.db", recent_s=recent_s))
    assert "skillexec_journal_tasks{" not in generate_latest(registry).decode()  # no journal
    line = 'skillexec_journal_tasks{skill="tally",status="succeeded"} '
    for runs in (1, 2, 3):
        _run_some(data)  # 3 successes each, finished since the previous scrape
        for _ in range(2):  # a scrape with nothing new changes nothing
            text = generate_latest(registry).decode()
            assert f"{line}{3.0 * runs}" in text
            assert (f'skillexec_journal_duration_seconds_count{{skill="tally"}} {5.0 * runs}'
                    in text)


def test_a_task_running_at_one_scrape_is_counted_when_it_ends(tmp_path: Path) -> None:
    data = tmp_path / "d"
    registry = CollectorRegistry()
    registry.register(JournalCollector(data / "journal.db", recent_s=0.0))

    @skill(id="slowly", version="1.0.0")
    async def slowly() -> str:
        await asyncio.sleep(0.5)
        return "done"

    async def go() -> tuple[str, str]:
        async with SkillExecutionEngine(data_dir=data) as engine:
            engine.register(slowly)
            task_id = await engine.submit("slowly")
            await asyncio.sleep(0.1)
            during = generate_latest(registry).decode()  # running: followed by its id
            await engine.wait(task_id)
        return during, generate_latest(registry).decode()

    during, after = arun(go())
    assert 'skillexec_journal_tasks{skill="slowly",status="running"} 1.0' in during
    assert 'status="succeeded"' not in during
    assert 'skillexec_journal_tasks{skill="slowly",status="succeeded"} 1.0' in after
    assert 'status="running"' not in after


def test_an_ipv6_address_is_printed_as_a_url(tmp_path: Path) -> None:
    """'serving metrics at http://::1:9464/metrics' is no URL: an IPv6 host is bracketed,
    as `serve` prints it."""
    done = _cli("metrics", "serve", "--host", "::1", "--port", "0", "--duration", "0.2",
                cwd=tmp_path)
    _out, err = done.communicate(timeout=60)
    if "cannot listen" in err:
        pytest.skip("no IPv6 loopback here")
    assert done.returncode == 0, err
    url = re.search(r"http://\S+/metrics", err)
    assert url is not None and url.group(0).startswith("http://[::1]:"), err
