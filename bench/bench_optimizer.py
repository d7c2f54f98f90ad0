"""Result cache and single-flight (issue: ResourceManager and ExecutionOptimizer).

Run:  .venv/bin/python bench/bench_optimizer.py [--calls 6000] [--rounds 3]

Side by side in one run, interleaved rounds, SQLite journal on:
  1. a workload where 50% of calls repeat an earlier call, of a cacheable skill doing
     ~1 ms of work: throughput and p50/p99 with the cache on vs off (cache=False)
  2. what a cache hit costs vs the inline no-op call of bench_engine (target: hit <= no-op)
  3. 100 identical concurrent calls of a cacheable skill: how many times it ran
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from skillexec import EngineConfig, SkillExecutionEngine, skill

RUNS = {"work": 0, "slow": 0}


@skill(id="work", cacheable=True)
async def work(n: int) -> dict[str, int]:
    RUNS["work"] += 1
    end = time.perf_counter() + 0.001  # ~1 ms of CPU
    x = 0
    while time.perf_counter() < end:
        x += 1
    return {"n": n, "spins": x}


@skill(id="noop", version="1.0.0")
async def noop() -> None:
    return None


@skill(id="hit", cacheable=True)
async def hit() -> None:
    return None


@skill(id="slow", cacheable=True)
async def slow(x: int) -> int:
    RUNS["slow"] += 1
    await asyncio.sleep(0.1)
    return x


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def workload(calls: int, seed: int) -> list[int]:
    """Half the calls are new, half repeat one of the earlier ones."""
    rng = random.Random(seed)
    seen: list[int] = []
    out = []
    for i in range(calls):
        if seen and rng.random() < 0.5:
            out.append(rng.choice(seen))
        else:
            seen.append(i)
            out.append(i)
    return out


async def run_mixed(data: Path, keys: list[int], *, cache: bool, callers: int
                    ) -> tuple[float, list[float]]:
    cfg = EngineConfig(data_dir=data, journal=True, max_concurrency=1000)
    async with SkillExecutionEngine(config=cfg) as e:
        e.register(work)
        for _ in range(50):
            await e.execute("work", {"n": -1}, cache=False)
        lat: list[float] = []
        it = iter(keys)

        async def caller() -> None:
            for k in it:
                t0 = time.perf_counter()
                r = await e.execute("work", {"n": k}, cache=cache)
                lat.append(time.perf_counter() - t0)
                assert r.ok

        t0 = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        return time.perf_counter() - t0, lat


async def run_hit_vs_noop(data: Path, calls: int) -> tuple[float, float]:
    """Sequential calls (one caller): microseconds per call, cache hit and inline no-op."""
    cfg = EngineConfig(data_dir=data, journal=True, max_concurrency=1000)
    async with SkillExecutionEngine(config=cfg) as e:
        e.register(noop)
        e.register(hit)
        await e.execute("hit")
        for _ in range(300):
            await e.execute("noop")
            await e.execute("hit")
        best = {"noop": 1e9, "hit": 1e9}
        for _ in range(3):
            for name in ("noop", "hit"):
                t0 = time.perf_counter()
                for _ in range(calls):
                    await e.execute(name)
                best[name] = min(best[name], (time.perf_counter() - t0) / calls)
        r = await e.execute("hit")
        assert r.cached
        return best["noop"] * 1e6, best["hit"] * 1e6


async def run_single_flight(data: Path) -> tuple[int, int, float]:
    RUNS["slow"] = 0
    async with SkillExecutionEngine(config=EngineConfig(data_dir=data)) as e:
        e.register(slow)
        t0 = time.perf_counter()
        rs = await asyncio.gather(*(e.execute("slow", {"x": 1}) for _ in range(100)))
        wall = time.perf_counter() - t0
        return RUNS["slow"], sum(r.ok for r in rs), wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=6000)
    ap.add_argument("--callers", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="skillexec-bench-opt-"))
    keys = workload(args.calls, seed=1)
    rows: dict[str, list[tuple[float, list[float]]]] = {"off": [], "on": []}
    hits: list[tuple[float, float]] = []
    for r in range(args.rounds):  # interleaved, so machine noise hits every variant alike
        rows["off"].append(asyncio.run(run_mixed(tmp / f"off{r}", keys, cache=False,
                                                 callers=args.callers)))
        rows["on"].append(asyncio.run(run_mixed(tmp / f"on{r}", keys, cache=True,
                                                callers=args.callers)))
        hits.append(asyncio.run(run_hit_vs_noop(tmp / f"hit{r}", 2000)))

    print(f"\n1. {args.calls} calls of a cacheable skill (~1 ms of work), 50% repeats, "
          f"{args.callers} concurrent callers, journal on, best of {args.rounds}")
    print(f"{'variant':22} {'calls/s':>10} {'p50 us':>9} {'p99 us':>9}")
    best = {}
    for name in ("off", "on"):
        wall, lat = min(rows[name], key=lambda x: x[0])
        best[name] = args.calls / wall
        print(f"{'cache ' + name:22} {args.calls / wall:10.0f} {pct(lat, 50) * 1e6:9.0f} "
              f"{pct(lat, 99) * 1e6:9.0f}")
    print(f"throughput cache on / off: {best['on'] / best['off']:.2f}x")

    noop_us = min(h[0] for h in hits)
    hit_us = min(h[1] for h in hits)
    print("\n2. one caller, sequential calls, journal on (best of rounds)")
    print(f"{'variant':34} {'us/call':>9}")
    print(f"{'inline no-op (not cacheable)':34} {noop_us:9.1f}")
    print(f"{'cache hit (no runner, no slot)':34} {hit_us:9.1f}")
    print(f"hit / no-op: {hit_us / noop_us:.2f}  (target <= 1.0)")

    runs, ok, wall = asyncio.run(run_single_flight(tmp / "sf"))
    print("\n3. single-flight: 100 identical concurrent calls of a skill sleeping 0.1 s")
    print(f"   the skill ran {runs} time(s); {ok}/100 succeeded; {wall * 1000:.0f} ms wall"
          "  (target: ran once)")


if __name__ == "__main__":
    main()
