"""ResourceManager: hot-path cost, and admission under memory pressure.

Run:  .venv/bin/python bench/bench_resources.py [--seconds 4] [--rounds 2]

1. What the ResourceManager and ExecutionOptimizer add to one call of a non-cacheable skill
   with no limits configured: the added calls timed alone, and engine.execute() of a no-op
   with no limits vs with limits configured (bulkheads, principal quota and rate), journal
   off, interleaved rounds.
2. Pressure, side by side (interleaved rounds): high-priority calls (priority 8, a 1 ms
   async skill, 32 callers) alone; then with a memory-hungry background load: a subprocess
   allocating 64 MiB every 100 ms up to 896 MiB (toward the threshold), plus a stream of
   low-priority calls of a process-isolated skill that declares memory_mb 256 and holds
   64 MiB each. The threshold is relative to the memory in use at start (used + 1 GiB;
   safety line used + 2 GiB), never a share of the machine; CPU threshold 80%.
   Variants: control on (low priority waits under pressure) and off.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import psutil

from skillexec import EngineConfig, SkillExecutionEngine, skill
from skillexec.resources import (
    PressureGauge,
    PressureSettings,
    ResourceLimits,
    ResourceManager,
)

MiB = 1 << 20


@skill(id="noop", version="1.0.0")
async def noop() -> None:
    return None


@skill(id="hi", priority=8)
async def hi() -> None:
    await asyncio.sleep(0.001)


HOG_MANIFEST = """{"id": "hog", "version": "1.0.0", "entry_point": "main:execute",
 "execution": {"isolation": "process", "priority": 2, "timeout": 30, "memory_mb": 256},
 "parameters_schema": {"mb": {"type": "integer", "default": 64},
                       "hold_s": {"type": "number", "default": 0.3}}}"""
HOG_CODE = """
import time

def execute(input_data):
    block = bytearray(input_data["mb"] << 20)
    block[::4096] = b"\\1" * (len(block) // 4096)  # touch every page: really resident
    time.sleep(input_data["hold_s"])
    return len(block)
"""


def hog_folder(root: Path) -> Path:
    """A low-priority, memory-hungry skill that runs in its own process."""
    folder = root / "hog"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "skill.json").write_text(HOG_MANIFEST)
    (folder / "main.py").write_text(HOG_CODE)
    return folder


ALLOCATOR = """
import sys, time
step, top, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
blocks = []
while sum(len(b) for b in blocks) < top:
    b = bytearray(step); b[::4096] = b"\\1" * (step // 4096); blocks.append(b)
    time.sleep(0.1)
time.sleep(hold)
"""


def used_mb() -> float:
    vm = psutil.virtual_memory()
    return (vm.total - vm.available) / MiB


# -- 1. hot path --------------------------------------------------------------------------------


def added_cost_us() -> float:
    """The calls the no-limit path adds to one execute(), timed alone."""
    from skillexec.optimization import ExecutionOptimizer
    from skillexec.task import ExecutionTask

    rm = ResourceManager(pressure=PressureGauge(settings=PressureSettings(enabled=False)))
    opt = ExecutionOptimizer(store=None)
    s = noop.__skill__  # type: ignore[attr-defined]
    task = ExecutionTask(task_id="t", skill_id="noop", skill_version="1.0.0", params={},
                         config={}, priority=5, timeout_s=1, max_retries=0, idempotent=False)
    metrics = {"wall_ms": 0.1, "cpu_ms": 0.05}

    def added() -> None:
        if rm.sampling is False:
            rm.sampler()
        ex = s.execution
        if (ex.cacheable or ex.idempotent) and opt.enabled:
            pass
        rm.admit(task, s, None, timeout_given=False)
        if rm.gated:  # claim() and release()
            pass
        if rm.output_limits:
            pass
        rm.finished("noop", None, metrics, ok=True, cached=False)
        opt.landed("t")

    n = 200_000
    return min(timeit.repeat(added, number=n, repeat=5)) / n * 1e6


async def engine_noop(data: Path, calls: int, *, limited: bool) -> float:
    limits = ResourceLimits(skill_concurrency_default=10_000, principal_concurrency=10_000,
                            principal_rate_per_s=1e9, principal_burst=10**9) if limited \
        else ResourceLimits()
    rm = ResourceManager(limits=limits,
                         pressure=PressureGauge(settings=PressureSettings(enabled=False)))
    cfg = EngineConfig(data_dir=data, journal=False, max_concurrency=1000)
    async with SkillExecutionEngine(config=cfg, resources=rm) as e:
        e.register(noop)
        for _ in range(300):
            await e.execute("noop", principal="p")
        best = 1e9
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(calls):
                await e.execute("noop", principal="p")
            best = min(best, (time.perf_counter() - t0) / calls)
        return best * 1e6


# -- 2. pressure ----------------------------------------------------------------------------------


async def pressure_run(data: Path, seconds: float, *, load: bool, control: bool,
                       used0: float) -> dict[str, float]:
    threshold_mb = used0 + 1024
    gauge = PressureGauge(settings=PressureSettings(
        enabled=control, memory_threshold_mb=threshold_mb, cpu_threshold_pct=80.0,
        action="wait", sample_interval_s=0.1))
    rm = ResourceManager(limits=ResourceLimits(skill_concurrency={"hog": 8}), pressure=gauge)
    cfg = EngineConfig(data_dir=data, journal=True, max_concurrency=64, thread_pool_size=16,
                       trusted_skills=frozenset({"hog"}))  # it asks for process
    peak = [used_mb()]
    stop = asyncio.Event()

    async def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], used_mb())
            await asyncio.sleep(0.05)

    async with SkillExecutionEngine(config=cfg, resources=rm) as e:
        e.register(hi)
        e.register(hog_folder(data.parent))
        for _ in range(50):
            await e.execute("hi")
        proc = None
        watcher = asyncio.create_task(watch())
        hogs_done = [0]
        if load:
            proc = subprocess.Popen([sys.executable, "-c", ALLOCATOR, str(64 * MiB),
                                     str(896 * MiB), str(seconds + 5)])

            async def feeder() -> None:
                pending: set[asyncio.Task[object]] = set()
                while not stop.is_set():
                    while len(pending) < 16:
                        pending.add(asyncio.create_task(e.execute("hog", priority=2)))
                    done, pending = await asyncio.wait(pending, timeout=0.05,
                                                       return_when=asyncio.FIRST_COMPLETED)
                    hogs_done[0] += len(done)
                for t in pending:
                    t.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

            feed = asyncio.create_task(feeder())
            await asyncio.sleep(2.0)  # let the allocator climb toward the threshold
        count = 0
        end = time.perf_counter() + seconds

        async def caller() -> None:
            nonlocal count
            while time.perf_counter() < end:
                r = await e.execute("hi", priority=8)
                assert r.ok
                count += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(32)))
        wall = time.perf_counter() - t0
        stop.set()
        if load:
            await feed
        await watcher
        if proc is not None:
            proc.kill()
            proc.wait()
        snap = rm.snapshot()
    return {"calls_s": count / wall, "peak_mb": peak[0] - used0,
            "threshold_mb": threshold_mb - used0, "hogs": hogs_done[0],
            "deferred": snap["counters"]["deferred_pressure"],
            "pressure_on": snap["counters"]["pressure_on"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--calls", type=int, default=5000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="skillexec-bench-res-"))

    print("\n1. hot path: a non-cacheable no-op skill, journal off, one caller")
    print(f"   added calls alone (admit, gate checks, usage accounting, single-flight "
          f"landing): {added_cost_us():.2f} us/call  (budget ~1-2 us)")
    res: dict[str, list[float]] = {"none": [], "limited": []}
    for r in range(args.rounds + 1):
        for name in ("none", "limited"):
            res[name].append(asyncio.run(engine_noop(tmp / f"{name}{r}", args.calls,
                                                     limited=name == "limited")))
    print(f"{'   variant':46} {'us/call':>9}")
    print(f"{'   no limits configured':46} {min(res['none']):9.1f}")
    print(f"{'   bulkheads + principal quota + rate configured':46} {min(res['limited']):9.1f}")

    used0 = used_mb()
    print(f"\n2. pressure: memory in use at start {used0:.0f} MB; threshold +1024 MB; "
          f"safety line +2048 MB; {args.seconds:g} s of high-priority calls per variant")
    rows: dict[str, list[dict[str, float]]] = {"unloaded": [], "loaded, control on": [],
                                               "loaded, control off": []}
    for r in range(args.rounds):
        rows["unloaded"].append(asyncio.run(pressure_run(
            tmp / f"u{r}", args.seconds, load=False, control=True, used0=used0)))
        rows["loaded, control on"].append(asyncio.run(pressure_run(
            tmp / f"on{r}", args.seconds, load=True, control=True, used0=used0)))
        rows["loaded, control off"].append(asyncio.run(pressure_run(
            tmp / f"off{r}", args.seconds, load=True, control=False, used0=used0)))
    print(f"{'   variant':24} {'hi calls/s':>10} {'vs unloaded':>11} {'peak +MB':>9} "
          f"{'low done':>9} {'deferred':>9}")
    base = max(x["calls_s"] for x in rows["unloaded"])
    for name, runs in rows.items():
        best = max(runs, key=lambda x: x["calls_s"])
        peak = max(x["peak_mb"] for x in runs)
        print(f"   {name:21} {best['calls_s']:10.0f} {best['calls_s'] / base * 100:10.0f}% "
              f"{peak:9.0f} {best['hogs']:9.0f} {best['deferred']:9.0f}")
    print("   target: control on keeps >= 90% of unloaded high-priority throughput, and "
          "system memory under the threshold (+1024 MB)")


if __name__ == "__main__":
    main()
