"""Refusals (a call refused before it ran: invalid parameters, unknown skill, rate limited)
are counted apart from failures (a call that ran and did not succeed) in the usage
accounts (live, Prometheus, the journal's usage report and its command) and the errors
report: ``failures`` counted both, so a skill called with bad parameters looked broken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from skillexec import SkillExecutionEngine, skill
from skillexec.reliability.analysis import error_report
from skillexec.resources.usage_report import usage_report
from skillexec.task import TaskStatus
from tests.conftest import arun

ROOT = Path(__file__).resolve().parents[1]


@skill("double", max_retries=0)
def double(n: int) -> int:
    if n < 0:
        raise ValueError("no negative numbers")
    return n * 2


async def _calls(e: SkillExecutionEngine) -> None:
    e.register(double)
    assert (await e.execute("double", {"n": 2}, principal="ann")).ok
    ran = await e.execute("double", {"n": -1}, principal="ann")  # runs, and fails
    assert ran.status is TaskStatus.FAILED
    for bad in ({"n": "two"}, {}):  # refused: invalid parameters
        refused = await e.execute("double", bad, principal="ann")
        assert refused.status is TaskStatus.REJECTED
    assert (await e.execute("nope", principal="bob")).status is TaskStatus.REJECTED


def test_usage_counts_refusals_apart_from_failures(tmp_path: Path) -> None:
    async def go() -> tuple[dict, dict, str, object]:
        async with SkillExecutionEngine(data_dir=tmp_path / ".skillexec") as e:
            await _calls(e)
            live = e.resources.usage()
            metrics = e.monitor.prometheus_text()
            journal = await usage_report(e.journal)
            errors = await error_report(e.journal)
            return live, journal, metrics, errors
    live, journal, metrics, errors = arun(go())
    for u in (live, journal):
        assert {k: u["skills"]["double"][k] for k in ("calls", "failures", "refusals")} == \
            {"calls": 4, "failures": 1, "refusals": 2}
        assert (u["skills"]["nope"]["failures"], u["skills"]["nope"]["refusals"]) == (0, 1)
        assert (u["principals"]["ann"]["failures"], u["principals"]["ann"]["refusals"]) \
            == (1, 2)
    assert 'skillexec_skill_refusals_total{skill="double"} 2.0' in metrics
    assert 'skillexec_skill_failures_total{skill="double"} 1.0' in metrics
    report = errors.to_dict()  # type: ignore[attr-defined]
    assert (report["tasks_with_failures"], report["failed_attempts"],
            report["refused_tasks"]) == (1, 1, 3)
    by_type = {}
    for g in report["groups"]:
        by_type[g["error_type"]] = by_type.get(g["error_type"], 0) + g["refusals"]
    assert by_type["execution_error"] == 0 and sum(by_type.values()) == 3

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}

    def cli(*args: str) -> str:
        r = subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout
    usage = json.loads(cli("report", "usage", "-f", "json"))
    assert (usage["skills"]["double"]["failures"], usage["skills"]["double"]["refusals"]) \
        == (1, 2)
    table = cli("report", "usage")
    assert "refusals" in table
    row = next(ln for ln in table.splitlines() if ln.split()[:1] == ["double"])
    assert row.split()[1:4] == ["4", "1", "2"]  # calls, failures, refusals
    assert "1 with a failed attempt (1 failed attempts)" in cli("report", "errors")
    assert "3 refused before they ran" in cli("report", "errors")
