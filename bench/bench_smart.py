"""What the SmartExecutor buys (issue: ResourceManager, ExecutionOptimizer and SmartExecutor).

Run:  .venv/bin/python bench/bench_smart.py [--tasks 400] [--calls 1000]

1. Scheduling: one priority, a mix of short (5 ms) and long (100 ms) calls, 4 slots. The
   same seeded workload runs on two engines side by side — FIFO (adaptive off) and
   shortest-expected-first (adaptive on, order_bound_s = 1 s) — after both have seen 30
   calls of each kind. Two arrival patterns: a burst (everything at once) and Poisson
   arrivals at ~90% load. Reported: mean completion time (finish - submit) and its ratio,
   the longest queue wait, and the aging bound checked on every pair of tasks: no task
   started before another that had arrived more than ``order_bound_s`` earlier.
2. Prediction: 1,000 calls of a skill whose duration grows with its payload (1 ms + 0.2 ms
   per KiB, payloads 0-50 KiB, random). Mean absolute error of ``predicted_ms`` (made before
   each call) against the measured duration, next to a per-skill-mean predictor on the same
   calls; for all calls and for the last 500.
3. Cost: inline no-op throughput with predictions on vs off (100 callers, journal on).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from skillexec import SkillExecutionEngine, skill
from skillexec.config import load_config
from skillexec.task import ExecutionResult


@skill(id="job")
async def job(kind: str, ms: float) -> str:
    await asyncio.sleep(ms / 1000)
    return kind


@skill(id="resize")
async def resize(data: str) -> int:
    await asyncio.sleep((1.0 + len(data) / 1024 * 0.2) / 1000)
    return len(data)


@skill(id="noop")
async def noop() -> None:
    return None


def engine(data: Path, *, adaptive: bool, concurrency: int = 4,
           enabled: bool = True) -> SkillExecutionEngine:
    cfg = load_config(data_dir=data, max_concurrency=concurrency,
                      smart={"enabled": enabled, "adaptive": adaptive, "order_bound_s": 1.0,
                             "order_weight": 10.0, "min_samples": 10,
                             "adapt_concurrency": False},
                      monitor={"log_file": None})
    e = SkillExecutionEngine(config=cfg)
    e.register(job)
    e.register(resize)
    e.register(noop)
    return e


def workload(n: int, seed: int) -> list[tuple[str, float]]:
    rng = random.Random(seed)
    return [("long", 100.0) if rng.random() < 0.2 else ("short", 5.0) for _ in range(n)]


async def schedule(e: SkillExecutionEngine, tasks: list[tuple[str, float]],
                   gaps: list[float]) -> dict[str, Any]:
    for _ in range(30):  # history for the predictor (the FIFO engine sees it too)
        await e.execute("job", {"kind": "short", "ms": 5.0})
        await e.execute("job", {"kind": "long", "ms": 100.0})
    ids = []
    for (kind, ms), gap in zip(tasks, gaps, strict=True):
        if gap:
            await asyncio.sleep(gap)
        ids.append(await e.submit("job", {"kind": kind, "ms": ms}))
    results: list[ExecutionResult] = [await e.wait(i) for i in ids]
    done = [r.finished_at - r.created_at for r in results if r.finished_at]
    waits = [float(r.metrics.get("queue_ms") or 0) for r in results]
    # The aging bound: nothing started before a task that arrived more than the bound later.
    starts = [(r.created_at, r.started_at or r.created_at) for r in results]
    worst = 0.0
    for a_arr, a_start in starts:
        for b_arr, b_start in starts:
            if b_start < a_start and b_arr > a_arr:
                worst = max(worst, b_arr - a_arr)
    long_done = [r.finished_at - r.created_at for r in results
                 if r.output == "long" and r.finished_at]
    return {"mean_s": statistics.fmean(done), "max_wait_s": max(waits) / 1000,
            "passed_by_s": worst, "long_mean_s": statistics.fmean(long_done)}


async def bench_scheduling(n: int, root: Path) -> None:
    tasks = workload(n, seed=7)
    rng = random.Random(11)
    mean_service_s = sum(ms for _, ms in tasks) / len(tasks) / 1000
    rate = 0.9 * 4 / mean_service_s  # 90% of four slots
    patterns = {"burst": [0.0] * n,
                "poisson 90% load": [rng.expovariate(rate) for _ in range(n)]}
    print(f"1. Scheduling: {n} calls at one priority, 20% long (100 ms), 80% short (5 ms), "
          "4 slots; aging bound 1.0 s")
    print(f"   {'arrivals':<18} {'FIFO mean':>10} {'SJF mean':>10} {'ratio':>6} "
          f"{'FIFO max wait':>14} {'SJF max wait':>13} {'SJF passed-by':>14}")
    for name, gaps in patterns.items():
        out = {}
        for mode, adaptive in (("fifo", False), ("sjf", True)):
            async with engine(root / f"{name[:5]}-{mode}", adaptive=adaptive) as e:
                out[mode] = await schedule(e, tasks, gaps)
        f, s = out["fifo"], out["sjf"]
        print(f"   {name:<18} {f['mean_s']:>9.3f}s {s['mean_s']:>9.3f}s "
              f"{s['mean_s'] / f['mean_s']:>6.2f} {f['max_wait_s']:>13.3f}s "
              f"{s['max_wait_s']:>12.3f}s {s['passed_by_s']:>13.3f}s")
        print(f"   {'':<18} long calls' mean completion: FIFO {f['long_mean_s']:.3f} s, "
              f"SJF {s['long_mean_s']:.3f} s")


async def bench_prediction(calls: int, root: Path) -> None:
    rng = random.Random(3)
    errs: list[float] = []
    base: list[float] = []
    walls: list[float] = []
    async with engine(root / "predict", adaptive=False, concurrency=8) as e:
        for _ in range(calls):
            size = rng.randrange(0, 50 * 1024)
            r = await e.execute("resize", {"data": "x" * size})
            wall = float(r.metrics["wall_ms"] or 0)
            pred = r.metrics.get("predicted_ms")
            if pred is not None and walls:
                errs.append(abs(float(pred) - wall))
                base.append(abs(statistics.fmean(walls) - wall))
            walls.append(wall)
        acc = e.smart.accuracy()
    tail = len(errs) // 2
    print(f"\n2. Prediction: {calls} calls of a skill costing 1 ms + 0.2 ms/KiB "
          "(payload 0-50 KiB, random)")
    print(f"   measured durations: mean {statistics.fmean(walls):.2f} ms, "
          f"sd {statistics.pstdev(walls):.2f} ms")
    print(f"   MAE, all calls:    predictor {statistics.fmean(errs):.3f} ms vs per-skill "
          f"mean {statistics.fmean(base):.3f} ms "
          f"(ratio {statistics.fmean(errs) / statistics.fmean(base):.2f})")
    print(f"   MAE, last {tail}:    predictor {statistics.fmean(errs[-tail:]):.3f} ms vs "
          f"per-skill mean {statistics.fmean(base[-tail:]):.3f} ms "
          f"(ratio {statistics.fmean(errs[-tail:]) / statistics.fmean(base[-tail:]):.2f})")
    print(f"   engine.smart.accuracy(): mae {acc['mae_ms']:.3f} ms, "
          f"baseline {acc['baseline_mae_ms']:.3f} ms over {acc['calls']} calls")


async def bench_cost(calls: int, root: Path, rounds: int = 3) -> None:
    async def drive(e: SkillExecutionEngine) -> float:
        remaining = calls

        async def caller() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await e.execute("noop")

        t0 = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(100)))
        return calls / (time.perf_counter() - t0)

    best = {"off": 0.0, "on": 0.0}
    for i in range(rounds):
        for mode in ("off", "on"):
            async with engine(root / f"cost-{mode}-{i}", adaptive=False, concurrency=1000,
                              enabled=mode == "on") as e:
                await drive(e)  # warm
                best[mode] = max(best[mode], await drive(e))
    print(f"\n3. Cost: inline no-op, 100 callers, {calls} calls, best of {rounds}: "
          f"predictions off {best['off']:,.0f}/s, on {best['on']:,.0f}/s "
          f"({best['on'] / best['off']:.0%})")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=400)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--cost-calls", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        await bench_scheduling(args.tasks, root)
        await bench_prediction(args.calls, root)
        await bench_cost(args.cost_calls, root)


if __name__ == "__main__":
    asyncio.run(main())
