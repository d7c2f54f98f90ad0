"""What monitoring costs (issue: observability).

Run:  .venv/bin/python bench/bench_monitor.py [--calls 20000] [--rounds 5]

1. Throughput: engine.execute() of a decorated async no-op skill, 100 concurrent callers,
   SQLite journal on; monitoring off vs on (metrics, live statistics, the event log for late
   subscribers, structlog JSON at INFO to a file), interleaved rounds, best of N.
2. Memory of the live statistics after 1,000,000 recorded calls over 100 skills
   (tracemalloc), the hooks driven directly with a clock that moves 1 ms per call, so every
   slot of every skill's rolling window is filled.
3. Quantile accuracy: p50/p95/p99 from the sketch vs exact, on the same 1,000,000 values.
4. Per-call cost of the monitor's hooks alone (after_attempt + on_finish).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from skillexec import EngineConfig, SkillExecutionEngine, skill
from skillexec.monitoring.monitor import ExecutionMonitor
from skillexec.monitoring.settings import MonitorSettings
from skillexec.monitoring.sketch import QuantileSketch
from skillexec.skills.decorator import skill_of
from skillexec.task import ExecutionResult, ExecutionTask, TaskStatus


@skill(id="noop", version="1.0.0")
async def noop() -> None:
    return None


async def drive(engine: SkillExecutionEngine, total: int,
                callers: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for ``total`` calls."""
    remaining = total

    async def caller() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await engine.execute("noop")

    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return time.perf_counter() - t0, time.process_time() - c0


async def run_engine(total: int, callers: int, data: Path, monitored: bool,
                     log_level: str = "INFO") -> tuple[float, float]:
    cfg = EngineConfig(data_dir=data, journal=True, max_concurrency=1000)
    async with SkillExecutionEngine(config=cfg) as engine:
        if monitored:
            engine.monitor.reconfigure(MonitorSettings(
                log_file=data / "monitor.log", log_format="json", log_level=log_level))
        else:
            engine.monitor.reconfigure(MonitorSettings(enabled=False))
        engine.register(noop)
        for _ in range(300):
            await engine.execute("noop")
        wall = await drive(engine, total, callers)
        if monitored:
            snap = engine.monitor.snapshot().skills["noop"]
            assert snap.counts["succeeded"] >= total, snap
            assert engine.events_bus.log is not None
        else:
            assert engine.events_bus.log is None and engine.monitor not in engine.middleware
    if monitored and log_level.upper() == "DEBUG":  # a line per call, all written by now
        lines = (data / "monitor.log").read_text().splitlines()
        assert len(lines) >= total and json.loads(lines[-1])["event"] == "task_finished"
    return wall


def _task(skill_id: str, n: int) -> ExecutionTask:
    return ExecutionTask(task_id=f"{n:024x}", skill_id=skill_id, skill_version="1.0.0",
                         params={}, config={}, priority=5, timeout_s=60.0, max_retries=0,
                         idempotent=True, attempts=1)


def _services(*skill_ids: str) -> Any:
    """The services of an engine that is never started (a monitor measured on its own),
    whose registry knows these skills (the monitor folds unknown ones into "other")."""
    engine = SkillExecutionEngine(config=EngineConfig(journal=False, data_dir=Path(
        tempfile.mkdtemp(prefix="skillexec-bench-monitor-"))))
    for sid in skill_ids:
        engine.register(skill(id=sid)(noop_fn))
    return engine.services


async def noop_fn() -> None:
    return None


def memory_and_accuracy(n_calls: int, n_skills: int) -> dict[str, Any]:
    rng = random.Random(7)
    clock_now = [1_000_000.0]
    skills = [f"skill-{i:03d}" for i in range(n_skills)]
    monitor = ExecutionMonitor(_services(*skills),
                               MonitorSettings(max_skills=n_skills, alerts=False),
                               clock=lambda: clock_now[0])
    tasks = [_task(s, i) for i, s in enumerate(skills)]
    walls = [rng.lognormvariate(2.0, 1.0) for _ in range(n_calls)]
    exact_sketch = QuantileSketch()
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()

    async def feed() -> None:
        for i in range(n_calls):
            t = tasks[i % n_skills]
            clock_now[0] += 0.001
            res = ExecutionResult(task_id=t.task_id, skill_id=t.skill_id, skill_version="1",
                                  status=TaskStatus.SUCCEEDED if i % 50 else TaskStatus.FAILED,
                                  attempts=1,
                                  metrics={"wall_ms": walls[i], "queue_ms": walls[i] / 10})
            monitor.on_finish(t, res)

    asyncio.run(feed())
    gc.collect()
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # accuracy on the same values (one sketch over all of them)
    exact_sketch.extend(walls)
    walls.sort()
    acc = {}
    for q in (0.5, 0.95, 0.99):
        exact = walls[int(q * (len(walls) - 1))]
        got = exact_sketch.quantile(q) or 0.0
        acc[q] = (exact, got, abs(got - exact) / exact)
    return {"mem_mb": (used - base) / 1048576.0, "accuracy": acc}


def hook_cost(n: int) -> float:
    from skillexec.runtime.runners.base import Attempt, AttemptLimits, Outcome

    monitor = ExecutionMonitor(_services("noop"), MonitorSettings(alerts=False))
    t = _task("noop", 1)
    ctx: Any = None
    attempt = Attempt(skill=skill_of(noop), input_data={}, context=ctx,
                      limits=AttemptLimits(timeout_s=60))
    res = ExecutionResult(task_id=t.task_id, skill_id="noop", skill_version="1",
                          status=TaskStatus.SUCCEEDED, attempts=1,
                          metrics={"wall_ms": 0.01, "queue_ms": 0.1})

    outcome = Outcome(metrics={"wall_ms": 0.01, "cpu_ms": None})

    async def go() -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            monitor.after_attempt(t, attempt, outcome)
            monitor.on_finish(t, res)
        return (time.perf_counter() - t0) / n * 1e6

    return asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--callers", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--memory-calls", type=int, default=1_000_000)
    ap.add_argument("--log-level", default="INFO",
                    help="of the monitored engine; DEBUG logs a line per call (task_finished)")
    ap.add_argument("--variant", choices=("on", "off"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="skillexec-bench-monitor-"))
    if args.variant:  # one round, in a fresh process (see below)
        wall, cpu = asyncio.run(run_engine(args.calls, args.callers, tmp / args.variant,
                                           args.variant == "on", args.log_level))
        print(json.dumps({"wall": wall, "cpu": cpu}))
        return
    walls: dict[str, list[float]] = {"off": [], "on": []}
    cpus: dict[str, list[float]] = {"off": [], "on": []}
    # Each round in a fresh interpreter, interleaved (off, on / on, off, ...): neither
    # variant inherits the other's heap, and machine noise hits both alike.
    for r in range(args.rounds):
        for name in ("off", "on") if r % 2 == 0 else ("on", "off"):
            out = subprocess.run(
                [sys.executable, __file__, "--variant", name, "--calls", str(args.calls),
                 "--callers", str(args.callers), "--log-level", args.log_level],
                check=True, capture_output=True, text=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            walls[name].append(got["wall"])
            cpus[name].append(got["cpu"])
    off = args.calls / min(walls["off"])
    on = args.calls / min(walls["on"])
    per_call = (min(walls["on"]) - min(walls["off"])) / args.calls * 1e6
    cpu_off = min(cpus["off"]) / args.calls * 1e6
    cpu_on = min(cpus["on"]) / args.calls * 1e6
    hooks = min(hook_cost(50_000) for _ in range(3))
    ma = memory_and_accuracy(args.memory_calls, 100)

    print(f"\nengine.execute of an async no-op, {args.callers} concurrent callers, "
          f"{args.calls} calls, journal on, monitor logs at {args.log_level.upper()}, best of "
          f"{args.rounds} interleaved rounds (each in a fresh process)")
    print(f"{'measure':58} {'value':>14} {'target':>14}")
    rows = [
        ("throughput, monitoring off (calls/s)", f"{off:,.0f}", ""),
        ("throughput, monitoring on (calls/s)", f"{on:,.0f}", ""),
        ("on / off", f"{on / off * 100:.1f}%", ">= 90%"),
        ("extra wall time per call with monitoring (us)", f"{per_call:.2f}", ""),
        ("CPU time per call, off / on (us)", f"{cpu_off:.1f} / {cpu_on:.1f}", ""),
        ("on / off by CPU time per call", f"{cpu_off / cpu_on * 100:.1f}%", ""),
        ("monitor hooks alone per call (us)", f"{hooks:.2f}", "a few"),
        (f"live statistics memory, {args.memory_calls:,} calls / 100 skills (MB)",
         f"{ma['mem_mb']:.1f}", "< 50"),
    ]
    for q, (exact, got, rel) in ma["accuracy"].items():
        rows.append((f"p{int(q * 100)} sketch vs exact (ms): {got:.3f} vs {exact:.3f}",
                     f"{rel * 100:.2f}%", "<= 2%" if q == 0.99 else ""))
    for name, value, target in rows:
        print(f"{name:58} {value:>14} {target:>14}")


if __name__ == "__main__":
    main()
