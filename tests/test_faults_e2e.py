"""Failure handling end to end: real engine, real SQLite journal, real failing skills."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from skillexec import SkillExecutionEngine, TaskStatus, skill
from skillexec.config import EngineConfig, load_config
from skillexec.errors import PermanentError, TransientError
from skillexec.skills.decorator import skill_of
from tests._reliability import with_fallback
from tests.conftest import ROOT, arun

TRUSTED = frozenset({"flaky", "crashy"})  # they ask for inline: the operator names them
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"),
       "SKILLEXEC_TRUSTED_SKILLS": json.dumps(sorted(TRUSTED))}


def tuned(data_dir: Path, **reliability: Any) -> SkillExecutionEngine:
    """An engine whose ErrorHandler has these settings (the ``reliability`` table)."""
    return SkillExecutionEngine(config=load_config(data_dir=data_dir, reliability=reliability))


STATE: dict[str, Any] = {"down": False, "calls": 0}


@skill(id="dep", timeout=2)
def dep(n: int = 0) -> int:
    STATE["calls"] += 1
    if STATE["down"]:
        raise ConnectionResetError("dependency at 10.1.2.3 reset the connection")
    return n


def test_breaker_opens_fails_fast_and_a_probe_closes_it(tmp_path: Path) -> None:
    STATE.update(down=True, calls=0)

    async def go() -> None:
        async with tuned(tmp_path / "d", breaker_min_calls=4, breaker_window_s=10,
                         breaker_open_s=0.3, breaker_half_open_probes=1) as engine:
            engine.register(dep)
            for i in range(4):
                r = await engine.execute("dep", {"n": i}, max_retries=0)
                assert r.status is TaskStatus.FAILED
            assert engine.error_handler.breakers()["dep"]["state"] == "open"
            calls = STATE["calls"]
            t0 = time.perf_counter()
            r = await engine.execute("dep", {"n": 9})
            assert time.perf_counter() - t0 < 0.05  # fails fast
            assert r.status is TaskStatus.REJECTED and r.error is not None
            assert r.error.code == "circuit_open" and r.error.retryable
            assert 0 < r.error.details["retry_after_s"] <= 0.3
            assert STATE["calls"] == calls  # the skill was not called
            STATE["down"] = False
            time.sleep(0.3)
            r = await engine.execute("dep", {"n": 5})  # the half-open probe
            assert r.status is TaskStatus.SUCCEEDED and r.output == 5
            assert engine.error_handler.breakers()["dep"]["state"] == "closed"
            await engine.error_handler.flush()
            events = await engine.journal.read_events("breaker")  # type: ignore[union-attr]
            assert [(e["data"]["from"], e["data"]["to"]) for e in events] == [
                ("closed", "open"), ("open", "half_open"), ("half_open", "closed")]

    arun(go())


def test_retry_decisions_are_journaled(tmp_path: Path) -> None:
    seen: dict[str, int] = {}

    @skill(id="sometimes")
    def sometimes(key: str) -> str:
        seen[key] = seen.get(key, 0) + 1
        if key == "permanent":
            raise PermanentError("the record does not exist")
        if key == "value":
            raise ValueError("bad value")
        if seen[key] < 3:
            raise TransientError("upstream busy")
        return "ok"

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as engine:
            engine.register(sometimes)
            ok = await engine.execute("sometimes", {"key": "t"}, max_retries=3)
            assert ok.status is TaskStatus.SUCCEEDED and ok.attempts == 3
            hist = await engine.history(ok.task_id)
            assert [re.sub(r" [\d.]+ (µs|ms|s)$", "", h["decision"].split(" (")[0])
                    for h in hist] == ["retry after", "retry after", "done"]
            for key in ("permanent", "value"):
                bad = await engine.execute("sometimes", {"key": key}, max_retries=3)
                assert bad.status is TaskStatus.FAILED and bad.attempts == 1
                assert seen[key] == 1  # never retried
                (h,) = await engine.history(bad.task_id)
                assert h["decision"].startswith("give up:") and "not retryable" in h["decision"]

    arun(go())


def test_fallback_retry_after_and_timeout_growth(tmp_path: Path) -> None:
    calls: list[float] = []

    @skill(id="primary")
    def primary(q: str) -> str:
        raise ConnectionRefusedError("primary is down")

    @skill(id="backup")
    def backup(q: str) -> str:
        return f"backup:{q}"

    @skill(id="busy")
    def busy() -> dict[str, Any]:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return {"success": False, "error": "overloaded", "status_code": 503,
                    "retry_after": 0.2}
        return {"success": True, "result": "served"}

    @skill(id="slowish", timeout=0.2)
    async def slowish() -> str:
        import asyncio
        await asyncio.sleep(0.25)
        return "finished"

    async def go() -> None:
        async with tuned(tmp_path / "d", grow_timeout=2.0) as engine:
            engine.register(with_fallback(skill_of(primary), "backup"))
            engine.register(backup)
            engine.register(busy)
            engine.register(slowish)
            r = await engine.execute("primary", {"q": "x"}, max_retries=1)
            assert r.status is TaskStatus.SUCCEEDED and r.output == "backup:x"
            decisions = [h["decision"] for h in await engine.history(r.task_id)]
            assert decisions[0].startswith("retry after")
            assert decisions[1].startswith("fallback to backup")
            r = await engine.execute("busy", {})
            assert r.status is TaskStatus.SUCCEEDED and r.output == "served"
            assert calls[1] - calls[0] >= 0.2  # Retry-After honoured
            r = await engine.execute("slowish", {}, max_retries=2)
            assert r.status is TaskStatus.SUCCEEDED and r.attempts == 2
            (first, _) = await engine.history(r.task_id)
            assert first["error"]["type"] == "timeout_error"
            # Grown x2 to 0.4 s (no overall deadline here to leave less room): 150 ms more
            # than the nap, which a loaded CI box's event loop once took 30 ms past.
            assert "with timeout 400 ms" in first["decision"]

    arun(go())


FLAKY = """
import os
def execute(input_data, context):
    if os.path.exists(os.environ["DOWN_FILE"]):
        raise ConnectionResetError(f"backend {input_data['n']} at 10.0.0.{input_data['n']} reset")
    return {"n": input_data["n"], "attempt": context.attempt}
"""
MANIFEST = {"id": "flaky", "version": "1.0.0", "entry_point": "main:execute",
            "parameters_schema": {"n": {"type": "integer", "required": True}},
            "execution": {"isolation": "inline", "max_retries": 1, "idempotent": True}}


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", *args], env=env, text=True,
                          capture_output=True, timeout=60, check=False)


def test_dead_letters_replay_and_report_through_the_cli(tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    (skills / "flaky").mkdir(parents=True)
    (skills / "flaky" / "skill.json").write_text(json.dumps(MANIFEST))
    (skills / "flaky" / "main.py").write_text(FLAKY)
    data = tmp_path / "data"
    down = tmp_path / "down"
    down.write_text("1")
    env = {**ENV, "DOWN_FILE": str(down)}
    os.environ["DOWN_FILE"] = str(down)

    async def fail_some() -> list[str]:
        async with SkillExecutionEngine(config=EngineConfig(
                skills_dir=skills, data_dir=data, trusted_skills=TRUSTED)) as engine:
            results = [await engine.execute("flaky", {"n": n}) for n in (1, 2)]
            assert all(r.status is TaskStatus.FAILED and r.attempts == 2 for r in results)
            letters = await engine.error_handler.dead_letters()
            assert [d["task_id"] for d in letters] == [r.task_id for r in results]
            assert letters[0]["error"]["code"] == "connection_failed"
            return [r.task_id for r in results]

    try:
        failed = arun(fail_some())
    finally:
        del os.environ["DOWN_FILE"]

    rep = _cli("report", "errors", "--since", "1h", "--format", "json", "--data-dir",
               str(data), env=env)
    assert rep.returncode == 0, rep.stderr
    report = json.loads(rep.stdout)
    (group,) = report["groups"]
    assert group["skill_id"] == "flaky" and group["error_type"] == "network_error"
    assert group["count"] == 4 and group["tasks"] == 2 and group["mean_attempts"] == 2
    assert group["recovery_rate"] == 0 and "<n>" in group["fingerprint"]
    assert "ConnectionResetError" in group["example_traceback"]
    assert report["dead_letters"] == 2
    table = _cli("report", "errors", "--data-dir", str(data), env=env)
    assert table.returncode == 0 and "flaky" in table.stdout

    down.unlink()  # the backend is back
    out = _cli("tasks", "replay", "--all-failed", "--skills-dir", str(skills), "--data-dir",
               str(data), "--json", env=env)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(ln) for ln in out.stdout.splitlines()]
    assert sorted(x["original_task_id"] for x in lines) == sorted(failed)
    for x in lines:
        assert x["new_task_id"] not in failed
        assert x["result"]["status"] == "succeeded"
    again = _cli("tasks", "replay", "--all-failed", "--skills-dir", str(skills),
                 "--data-dir", str(data), env=env)
    assert again.returncode == 0 and "nothing to replay" in again.stdout
    one = _cli("tasks", "replay", failed[0], "--skills-dir", str(skills), "--data-dir",
               str(data), env=env)
    assert one.returncode == 0 and "succeeded" in one.stdout and failed[0] in one.stdout
    shown = _cli("tasks", "show", failed[0], "--data-dir", str(data), env=env)
    assert "retry after" in shown.stdout and "give up" in shown.stdout


CRASHY = """
import os, time
def execute(input_data, context):
    with open(os.environ["RUNS_FILE"], "a") as fh:
        fh.write(f"{context.task_id} {context.attempt}\\n")
    if context.attempt == 1:
        time.sleep(3600)  # the engine is killed here
    if context.attempt == 2:
        raise ConnectionResetError("still warming up")
    return {"attempt": context.attempt}
"""
DRIVER = """
import asyncio, sys
from skillexec import SkillExecutionEngine

async def main():
    engine = SkillExecutionEngine(skills_dir=sys.argv[1], data_dir=sys.argv[2])
    await engine.start()
    print(await engine.submit("crashy", {}), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_a_task_interrupted_by_a_crash_is_retried_and_its_attempts_continue(
        tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    (skills / "crashy").mkdir(parents=True)
    manifest = {"id": "crashy", "version": "1.0.0", "entry_point": "main:execute",
                "execution": {"isolation": "inline", "idempotent": True, "max_retries": 3,
                              "timeout": 5}}
    (skills / "crashy" / "skill.json").write_text(json.dumps(manifest))
    (skills / "crashy" / "main.py").write_text(CRASHY)
    data = tmp_path / "data"
    runs = tmp_path / "runs.txt"
    env = {**ENV, "RUNS_FILE": str(runs)}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(skills), str(data)],
                            stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        task_id = proc.stdout.readline().strip()
        end = time.monotonic() + 10
        while not (runs.exists() and runs.read_text()) and time.monotonic() < end:
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert runs.read_text().split() == [task_id, "1"]
    os.environ["RUNS_FILE"] = str(runs)

    async def resume() -> None:
        async with SkillExecutionEngine(config=EngineConfig(
                skills_dir=skills, data_dir=data, trusted_skills=TRUSTED)) as engine:
            r = await engine.wait(task_id, timeout=20)
            assert r.status is TaskStatus.SUCCEEDED
            assert r.output == {"attempt": 3} and r.attempts == 3
            hist = await engine.history(task_id)
            assert [h["attempt"] for h in hist] == [2, 3]
            assert hist[0]["decision"].startswith("retry after")

    try:
        arun(resume())
    finally:
        del os.environ["RUNS_FILE"]
    assert [ln.split()[1] for ln in runs.read_text().splitlines()] == ["1", "2", "3"]
