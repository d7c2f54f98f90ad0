"""Engine overhead, journal cost and concurrency (issue: the embedded engine).

Run:  .venv/bin/python bench/bench_engine.py [--calls 20000]

Side by side in one run, on this machine:
  1. bare asyncio.create_task + await of a no-op coroutine, 100 concurrent callers
  2. engine.execute() of a no-op async skill, journal off (memory store)
  3. the same with the SQLite journal on (WAL, group commit)
  (2 and 3 measure the engine core: the monitor, breakers and retry budget, pressure sampling
  and the result cache switched off)
  4. the SQLite journal on with every subsystem at its default (all on)
  4. 1,000 and 10,000 concurrent calls of a skill that sleeps 1 s: wall time, peak RSS
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from skillexec import EngineConfig, SkillExecutionEngine, skill


@skill(id="noop", version="1.0.0")
async def noop() -> None:
    return None


@skill(id="sleep1")
async def sleep1(seconds: float = 1.0) -> None:
    await asyncio.sleep(seconds)


async def _noop_coro() -> None:
    return None


async def drive(call: Callable[[], Awaitable[object]], total: int,
                callers: int) -> tuple[float, list[float]]:
    """`callers` loops, each awaiting `call()` in turn, until `total` calls are done."""
    lat: list[float] = []
    remaining = total

    async def caller() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            await call()
            lat.append(time.perf_counter() - t0)

    gc.collect()
    t0 = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return time.perf_counter() - t0, lat


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


async def bench_bare(total: int, callers: int) -> tuple[float, list[float]]:
    return await drive(lambda: asyncio.create_task(_noop_coro()), total, callers)


CORE = {"monitor": {"enabled": False},
        "reliability": {"breaker_enabled": False, "budget_enabled": False},
        "pressure": {"enabled": False}, "cache": {"enabled": False}}


async def bench_engine(total: int, callers: int, *, journal: bool, data: Path,
                       core: bool = True) -> tuple[float, list[float]]:
    cfg = EngineConfig(data_dir=data, journal=journal, max_concurrency=1000,
                       **(CORE if core else {}))
    async with SkillExecutionEngine(config=cfg) as engine:
        engine.register(noop)
        for _ in range(200):  # warm up
            await engine.execute("noop")
        return await drive(lambda: engine.execute("noop"), total, callers)


async def bench_sleepers(n: int, data: Path) -> tuple[float, int]:
    cfg = EngineConfig(data_dir=data, max_concurrency=max(n, 1000), journal=True)
    async with SkillExecutionEngine(config=cfg) as engine:
        engine.register(sleep1)
        t0 = time.perf_counter()
        results = await asyncio.gather(*(engine.execute("sleep1") for _ in range(n)))
        wall = time.perf_counter() - t0
        ok = sum(r.ok for r in results)
        return wall, ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--callers", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="skillexec-bench-"))
    rows: dict[str, list[tuple[float, list[float]]]] = {"bare": [], "off": [], "on": [],
                                                        "all": []}
    for r in range(args.rounds):  # interleaved, so machine noise hits every variant alike
        rows["bare"].append(asyncio.run(bench_bare(args.calls, args.callers)))
        rows["off"].append(asyncio.run(bench_engine(args.calls, args.callers, journal=False,
                                                    data=tmp / f"off{r}")))
        rows["on"].append(asyncio.run(bench_engine(args.calls, args.callers, journal=True,
                                                   data=tmp / f"on{r}")))
        rows["all"].append(asyncio.run(bench_engine(args.calls, args.callers, journal=True,
                                                    data=tmp / f"all{r}", core=False)))

    def best(name: str) -> tuple[float, float, float, float]:
        wall, lat = min(rows[name], key=lambda x: x[0])
        return (args.calls / wall, wall / args.calls * 1e6, pct(lat, 50) * 1e6,
                pct(lat, 99) * 1e6)

    bare, off, on, every = best("bare"), best("off"), best("on"), best("all")
    print(f"\nno-op calls, {args.callers} concurrent callers, {args.calls} calls, "
          f"best of {args.rounds}")
    print(f"{'variant':34} {'calls/s':>10} {'us/call':>9} {'p50 us':>9} {'p99 us':>9}")
    for name, v in (("bare create_task+await", bare), ("core, journal off", off),
                    ("core, journal on (SQLite)", on), ("all defaults, journal on", every)):
        print(f"{name:34} {v[0]:10.0f} {v[1]:9.1f} {v[2]:9.1f} {v[3]:9.1f}")
    print(f"\nper-call overhead vs bare task (journal on): {on[1] / bare[1]:.1f}x  "
          f"(target <= 20x)")
    print(f"throughput journal on / off: {on[0] / off[0] * 100:.0f}%  (target >= 60%)")
    print(f"calls/s with journal on: {on[0]:.0f}  (target >= 10,000)")
    print(f"with every subsystem on: {every[0]:.0f} calls/s, "
          f"{every[1] / bare[1]:.1f}x the bare task")

    print("\nconcurrency: async skill sleeping 1 s, all submitted at once (journal on)")
    for n, target in ((1000, 1.5), (10_000, 4.0)):
        wall, ok = asyncio.run(bench_sleepers(n, tmp / f"sleep{n}"))
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  {n:6d} calls: {wall:.2f} s wall (target {target} s), {ok} ok, "
              f"peak RSS {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
