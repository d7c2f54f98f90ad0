"""Performance suggestions from a real journal: engine.optimizer.suggestions() and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from skillexec import SkillExecutionEngine, skill
from skillexec.config import load_config
from tests.conftest import ROOT, arun


@skill(id="edge", timeout=0.05, max_retries=0)
async def edge(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@skill(id="lookup")
def lookup(city: str) -> str:
    return city.upper()


@skill(id="cached-lookup", cacheable=True)
def cached_lookup(city: str) -> str:
    return city.upper()


@skill(id="quick", timeout=120)
def quick(n: int) -> int:
    return n


@skill(id="shaky", max_retries=2)
def shaky(n: int) -> int:
    if n % 3:
        raise ConnectionError("upstream reset")
    return n


async def workload(e: SkillExecutionEngine) -> None:
    for i in range(40):  # a third take ~3x their 50 ms timeout
        await e.execute("edge", {"seconds": 0.15 if i % 3 == 0 else 0.03})
    for i in range(50):  # the same five cities again and again
        await e.execute("lookup", {"city": ["oslo", "rome", "lima", "pune", "kyiv"][i % 5]})
        await e.execute("cached-lookup", {"city": ["oslo", "rome"][i % 2]})
    for i in range(120):
        await e.execute("quick", {"n": i})
    for i in range(30):
        await e.execute("shaky", {"n": i})


def test_suggestions_rest_on_evidence(tmp_path: Path) -> None:
    async def main() -> None:
        cfg = load_config(data_dir=tmp_path / "data", retry_base_delay_s=0.001,
                          reliability={"breaker_enabled": False, "budget_enabled": False})
        async with SkillExecutionEngine(config=cfg) as e:
            for fn in (edge, lookup, cached_lookup, quick, shaky):
                e.register(fn)
            await workload(e)
            found = await e.optimizer.suggestions()
        by = {(s.skill, s.kind): s for s in found}
        t = by[("edge", "timeout")]
        assert t.severity == "warning" and "time out" in t.message and "raise it to" in t.message
        assert t.evidence["timed_out"] >= 13 and t.evidence["timeout_s"] == 0.05
        assert t.evidence["suggested_timeout_s"] > 0.05
        c = by[("lookup", "cacheable")]
        assert c.evidence["repeat_share"] == 0.9 and "90%" in c.message
        assert ("cached-lookup", "cacheable") not in by  # it already is
        assert by[("quick", "timeout_too_long")].evidence["timeout_s"] == 120
        f = by[("shaky", "failures")]
        assert "network_error" in f.message and f.evidence["failed"] >= 15
        assert by[("shaky", "retries")].evidence["mean_attempts"] >= 1.5
        assert all(s.evidence.get("calls") for s in found)
        assert not [s for s in found if s.skill == "cached-lookup"]

        # A journal with too little evidence says nothing.
        async with SkillExecutionEngine(data_dir=tmp_path / "few") as e2:
            e2.register(edge)
            for _ in range(5):
                await e2.execute("edge", {"seconds": 0.2})
            assert await e2.optimizer.suggestions() == []
    arun(main())


def test_report_suggestions_cli_reads_past_runs(tmp_path: Path) -> None:
    async def main() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / ".skillexec") as e:
            e.register(edge)
            e.register(lookup)
            await workload_small(e)
    arun(main())
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    r = subprocess.run([sys.executable, "-m", "skillexec", "report", "suggestions",
                        "--format", "json"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    kinds = {(s["skill"], s["kind"]) for s in json.loads(r.stdout)}
    assert ("edge", "timeout") in kinds and ("lookup", "cacheable") in kinds
    r = subprocess.run([sys.executable, "-m", "skillexec", "report", "suggestions"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "raise it to" in r.stdout and "cacheable" in r.stdout
    r = subprocess.run([sys.executable, "-m", "skillexec", "report", "usage", "-f", "json"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    usage = json.loads(r.stdout)
    assert usage["skills"]["edge"]["calls"] == 30 and usage["skills"]["lookup"]["calls"] == 30
    assert usage["skills"]["edge"]["wall_seconds"] > 0


async def workload_small(e: SkillExecutionEngine) -> None:
    for i in range(30):
        await e.execute("edge", {"seconds": 0.15 if i % 2 else 0.01})
        await e.execute("lookup", {"city": "oslo" if i % 2 else "rome"})
