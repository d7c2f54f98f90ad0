"""Fault-injection benchmark of skillexec's failure handling (prints a table; rerun freely).

Through the public API (SkillExecutionEngine.execute with decorated skills, inline, the
SQLite journal on), with seeded faults:

1. mixed workload at 5 % and 20 % transient faults per attempt: connection resets, timeouts
   that pass on retry, 503 with Retry-After (envelope and httpx exception), MemoryError
   spikes; plus a stream of permanent errors (PermanentError, ValueError) that must never
   be retried. Reports success rate, automatic recovery rate, amplification.
2. one dependency fully down for a window, side by side with the same run without the
   outage: when its breaker opens, how fast its calls fail, the other skills' p99.
3. kill -9 of an engine process 20 times while it runs idempotent and non-idempotent folder
   skills; then the journal (SQLite, read directly) is checked: nothing lost, one terminal
   state each, no non-idempotent task run twice.

    python bench/bench_faults.py [--seed 7] [--tasks 3000] [--kills 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from skillexec import SkillExecutionEngine, TaskStatus, skill
from skillexec.errors import PermanentError

ROOT = Path(__file__).resolve().parent.parent


class Faults:
    """Seeded fault injection shared by the skills of one run."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.injected = 0
        self.outage: tuple[float, float] | None = None  # (start, end) for "dep"

    def hit(self) -> bool:
        if self.rng.random() < self.rate:
            self.injected += 1
            return True
        return False


F = Faults(0.0, 0)


@skill(id="net", timeout=1)
def net(n: int) -> int:
    if F.hit():
        raise ConnectionResetError(f"connection {n} reset by peer")
    return n


@skill(id="slow", timeout=0.2)
async def slow(n: int) -> int:
    if F.hit():
        await asyncio.sleep(1.0)  # past the timeout: this attempt times out
    return n


@skill(id="api", timeout=1)
def api(n: int) -> Any:
    if F.hit():
        if n % 2:
            return {"success": False, "error": "service unavailable", "status_code": 503,
                    "retry_after": 0.01}
        req = httpx.Request("GET", "https://upstream.invalid/v1")
        resp = httpx.Response(503, headers={"Retry-After": "0.01"}, request=req)
        raise httpx.HTTPStatusError("503 Service Unavailable", request=req, response=resp)
    return {"success": True, "result": n}


@skill(id="mem", timeout=1)
def mem(n: int) -> int:
    if F.hit():
        raise MemoryError("spike")
    return n


@skill(id="perm", timeout=1)
def perm(n: int) -> int:
    if n % 2:
        raise PermanentError(f"record {n} does not exist")
    raise ValueError(f"bad value {n}")


@skill(id="dep", timeout=1)
async def dep(n: int) -> int:
    out = F.outage
    if out is not None and out[0] <= time.monotonic() < out[1]:
        await asyncio.sleep(0.02)  # a dependency that is down answers slowly, then fails
        raise ConnectionRefusedError("dependency down")
    await asyncio.sleep(0.005)
    return n


@skill(id="steady", timeout=1)
async def steady(n: int) -> int:
    await asyncio.sleep(0.005)
    return n




def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _engine(data: Path, concurrency: int, **reliability: Any) -> SkillExecutionEngine:
    from skillexec.config import load_config

    cfg = load_config(data_dir=data, max_concurrency=concurrency, retry_base_delay_s=0.005,
                      retry_max_delay_s=0.05, default_max_retries=3, reliability=reliability)
    return SkillExecutionEngine(config=cfg)


# -- 1. mixed workload ---------------------------------------------------------------------

async def mixed(rate: float, tasks: int, seed: int, data: Path) -> dict[str, Any]:
    global F
    F = Faults(rate, seed)
    mix = ["net"] * 40 + ["api"] * 25 + ["slow"] * 15 + ["mem"] * 20
    rng = random.Random(seed + 1)
    plan = [(rng.choice(mix), i) for i in range(tasks)]
    perm_calls = max(50, tasks // 20)
    async with _engine(data, 100) as engine:
        for fn in (net, slow, api, mem, perm):
            engine.register(fn)
        sem = asyncio.Semaphore(100)

        async def one(sid: str, n: int) -> Any:
            async with sem:
                return await engine.execute(sid, {"n": n}, cache=False)

        t0 = time.perf_counter()
        results = await asyncio.gather(*(one(s, n) for s, n in plan))
        perms = await asyncio.gather(*(one("perm", n) for n in range(perm_calls)))
        wall = time.perf_counter() - t0
        faulted = [r for r in results if r.attempts > 1 or r.status is not TaskStatus.SUCCEEDED]
        ok = sum(r.status is TaskStatus.SUCCEEDED for r in results)
        recovered = sum(r.status is TaskStatus.SUCCEEDED for r in faulted)
        attempts = sum(r.attempts for r in results)
        codes: dict[str, int] = {}
        for r in results:
            if r.error is not None:
                codes[r.error.code] = codes.get(r.error.code, 0) + 1
        return {
            "rate": rate, "tasks": tasks, "wall_s": wall, "faults": F.injected,
            "success": ok / tasks, "faulted_tasks": len(faulted),
            "recovery": recovered / len(faulted) if faulted else 1.0,
            "amplification": attempts / tasks,
            "perm_tasks": len(perms),
            "perm_retried": sum(r.attempts - 1 for r in perms),
            "perm_failed": sum(r.status is TaskStatus.FAILED for r in perms),
            "final_errors": codes, "budget": engine.error_handler.budget.snapshot(),
        }


# -- 2. one dependency down ----------------------------------------------------------------

async def outage_run(with_outage: bool, data: Path, seconds: float,
                     seed: int, rate: float) -> dict[str, Any]:
    global F
    F = Faults(0.0, seed)
    async with _engine(data, 200, breaker_window_s=1.0, breaker_min_calls=20,
                       breaker_open_s=0.5, breaker_half_open_probes=3) as engine:
        engine.register(dep)
        engine.register(steady)
        start = time.monotonic()
        down = (start + seconds * 0.25, start + seconds * 0.75)
        if with_outage:
            F.outage = down
        steady_lat: list[float] = []
        dep_fast: list[float] = []
        dep_failing: list[float] = []
        dep_attempts_down = 0
        opened_at: float | None = None
        rng = random.Random(seed)

        async def one(sid: str) -> None:
            nonlocal opened_at, dep_attempts_down
            t0 = time.perf_counter()
            r = await engine.execute(sid, {"n": 1}, cache=False, max_retries=2)
            dt = time.perf_counter() - t0
            now = time.monotonic()
            if sid == "steady":
                steady_lat.append(dt)
            elif r.error is not None and r.error.code == "circuit_open":
                dep_fast.append(dt)
                if opened_at is None:
                    opened_at = now
            elif down[0] <= now < down[1]:
                dep_attempts_down += r.attempts
                if r.error is not None:
                    dep_failing.append(dt)

        # Open loop: the same seeded Poisson arrivals with and without the outage, so that
        # fast failures do not turn into more offered load (as they would with closed-loop
        # callers, which then measure their own extra load rather than the outage).
        calls: list[asyncio.Task[None]] = []
        due = start
        while True:
            due += rng.expovariate(rate)
            if due - start >= seconds:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            calls.append(asyncio.create_task(one("dep" if rng.random() < 0.3 else "steady")))
        await asyncio.gather(*calls)
        await engine.error_handler.flush()
        events = await engine.journal.read_events("breaker")
        return {"steady_p50": pct(steady_lat, 0.5), "steady_p99": pct(steady_lat, 0.99),
                "steady_calls": len(steady_lat),
                "open_after_s": None if opened_at is None else opened_at - down[0],
                "fast_fail_p50": pct(dep_fast, 0.5), "fast_fail_p99": pct(dep_fast, 0.99),
                "fast_fails": len(dep_fast),
                "failing_p50": pct(dep_failing, 0.5),
                "dep_attempts_during_outage": dep_attempts_down,
                "transitions": [f"{e['data']['from']}->{e['data']['to']}" for e in events],
                "window_s": 1.0}


# -- 3. kill -9 ----------------------------------------------------------------------------

KSKILL = """
import asyncio, os, time
async def execute(input_data, context):
    with open(os.environ["RUNS_FILE"], "a") as fh:
        fh.write(f"{context.task_id} {context.attempt} {os.getpid()} {time.time():.4f}\\n")
    await asyncio.sleep(input_data["s"])
    return {"n": input_data["n"]}
"""
KDRIVER = """
import asyncio, random, sys
from skillexec import SkillExecutionEngine

async def main():
    engine = SkillExecutionEngine(skills_dir=sys.argv[1], data_dir=sys.argv[2],
                                  max_concurrency=16)
    await engine.start()
    print("READY", flush=True)
    rng = random.Random(int(sys.argv[4]))
    with open(sys.argv[3], "a") as ids:
        if sys.argv[5] == "submit":
            n = 0
            while True:
                sid = rng.choice(["again", "once"])
                tid = await engine.submit(sid, {"n": n, "s": rng.uniform(0.01, 0.2)})
                ids.write(f"{tid} {sid}\\n")
                ids.flush()
                n += 1
                await asyncio.sleep(rng.uniform(0, 0.01))
    while engine.queue_depth or engine.running_count:
        await asyncio.sleep(0.05)
    await engine.close()
    print("DRAINED", flush=True)

asyncio.run(main())
"""


def kill_run(kills: int, seed: int, root: Path) -> dict[str, Any]:
    skills = root / "skills"
    for sid, idem in (("again", True), ("once", False)):
        d = skills / sid
        d.mkdir(parents=True, exist_ok=True)
        (d / "main.py").write_text(KSKILL)
        (d / "skill.json").write_text(json.dumps({
            "id": sid, "version": "1.0.0", "entry_point": "main:execute",
            "parameters_schema": {"n": {"type": "integer", "required": True},
                                  "s": {"type": "number", "required": True}},
            "execution": {"isolation": "inline", "idempotent": idem}}))
    data, ids_file, runs = root / "data", root / "ids.txt", root / "runs.txt"
    env = {**os.environ, "RUNS_FILE": str(runs), "PYTHONPATH": str(ROOT / "src"),
           "SKILLEXEC_TRUSTED_SKILLS": '["again", "once"]'}  # they ask for inline
    rng = random.Random(seed)

    def start(mode: str, i: int) -> subprocess.Popen[str]:
        p = subprocess.Popen([sys.executable, "-c", KDRIVER, str(skills), str(data),
                              str(ids_file), str(seed * 1000 + i), mode],
                             stdout=subprocess.PIPE, env=env, text=True)
        assert p.stdout is not None and p.stdout.readline().strip() == "READY"
        return p

    for i in range(kills):
        p = start("submit", i)
        time.sleep(rng.uniform(0.1, 0.8))
        p.send_signal(signal.SIGKILL)
        p.wait()
    p = start("drain", kills)
    assert p.stdout is not None
    drained = p.stdout.readline().strip() == "DRAINED"
    p.wait(timeout=60)
    acked = [ln.split() for ln in ids_file.read_text().splitlines() if ln.strip()]
    with sqlite3.connect(data / "journal.db") as db:
        rows = {r[0]: r[1:] for r in db.execute(
            "SELECT task_id, status, finished_at, result FROM tasks")}
    lost = [t for t, _ in acked if t not in rows]
    unfinished = [t for t, (_, fin, res) in rows.items() if fin is None or res is None]
    mismatched = [t for t, (st, _, res) in rows.items()
                  if res is not None and json.loads(res)["status"] != st]
    run_counts: dict[str, int] = {}
    for ln in runs.read_text().splitlines() if runs.exists() else []:
        tid = ln.split()[0]
        run_counts[tid] = run_counts.get(tid, 0) + 1
    once = {t for t, sid in acked if sid == "once"}
    twice = [t for t in once if run_counts.get(t, 0) > 1]
    statuses: dict[str, int] = {}
    for st, _, _ in rows.values():
        statuses[st] = statuses.get(st, 0) + 1
    interrupted_again = sum(1 for t, sid in acked if sid == "again"
                            and run_counts.get(t, 0) > 1)
    if twice:
        for t in twice[:3]:
            print("RUN TWICE", t, [ln for ln in runs.read_text().splitlines()
                                                if ln.startswith(t)], file=sys.stderr)
    return {"kills": kills, "acked": len(acked), "drained": drained, "lost": len(lost),
            "unfinished": len(unfinished), "two_terminal": len(mismatched),
            "once_run_twice": len(twice), "idempotent_rerun": interrupted_again,
            "statuses": statuses}


# -- the table -------------------------------------------------------------------------------

def ms(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x * 1000:.1f} ms"


async def run_async(args: argparse.Namespace, tmp: Path) -> list[tuple[str, str, str, bool]]:
    rows: list[tuple[str, str, str, bool]] = []
    if args.only != "outage":
        rows += await mixed_rows(args, tmp)
    return rows + await outage_rows(args, tmp)


async def mixed_rows(args: argparse.Namespace, tmp: Path) -> list[tuple[str, str, str, bool]]:
    rows: list[tuple[str, str, str, bool]] = []
    m5 = await mixed(0.05, args.tasks, args.seed, tmp / "m5")
    m20 = await mixed(0.20, args.tasks, args.seed + 1, tmp / "m20")
    for m in (m5, m20):
        tag = f"{m['rate']:.0%} faults"
        target = 0.999 if m["rate"] < 0.1 else 0.99
        rows.append((f"success rate, {tag} ({m['tasks']} tasks, {m['faults']} faults)",
                     f"{m['success']:.3%}", f">= {target:.1%}", m["success"] >= target))
        rows.append((f"automatic recovery of faulted tasks, {tag}",
                     f"{m['recovery']:.2%} of {m['faulted_tasks']}", ">= 95%",
                     m["recovery"] >= 0.95))
        rows.append((f"retry amplification (attempts/tasks), {tag}",
                     f"{m['amplification']:.3f}", "<= 1.3" if m["rate"] > 0.1 else "-",
                     m["amplification"] <= 1.3))
    perm_retried = m5["perm_retried"] + m20["perm_retried"]
    rows.append((f"permanent errors retried ({m5['perm_tasks'] + m20['perm_tasks']} tasks)",
                 str(perm_retried), "0", perm_retried == 0))
    print("final errors at 20%:", m20["final_errors"], file=sys.stderr)
    return rows


async def outage_rows(args: argparse.Namespace, tmp: Path) -> list[tuple[str, str, str, bool]]:
    rows: list[tuple[str, str, str, bool]] = []
    base: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for r in range(args.rounds):  # interleaved, side by side
        base.append(await outage_run(False, tmp / f"b{r}", args.seconds, args.seed + r,
                                     args.rate))
        out.append(await outage_run(True, tmp / f"o{r}", args.seconds, args.seed + r,
                                    args.rate))
    b99 = statistics.median(x["steady_p99"] for x in base)
    o99 = statistics.median(x["steady_p99"] for x in out)
    opens = [x["open_after_s"] for x in out]
    worst_open = max((o for o in opens if o is not None), default=None)
    rows.append(("outage: breaker opened after the outage began (worst of rounds)",
                 "never" if worst_open is None or None in opens else f"{worst_open:.2f} s",
                 f"<= window {out[0]['window_s']:g} s",
                 None not in opens and worst_open is not None
                 and worst_open <= out[0]["window_s"]))
    fast99 = statistics.median(x["fast_fail_p99"] for x in out)
    failing50 = statistics.median(x["failing_p50"] for x in out)
    rows.append(("outage: fail-fast latency of the down skill, p50 / p99",
                 f"{ms(statistics.median(x['fast_fail_p50'] for x in out))} / {ms(fast99)}",
                 f"< {ms(failing50)} (failing call p50)", fast99 < failing50))
    rows.append(("outage: attempts on the down skill during the outage (per round)",
                 ", ".join(str(x["dep_attempts_during_outage"]) for x in out), "-", True))
    rows.append(("outage: other skills' p99, without / with the outage",
                 f"{ms(b99)} / {ms(o99)} ({o99 / b99 - 1:+.0%})", "within +20%",
                 o99 <= b99 * 1.2))
    print("breaker transitions:", [x["transitions"] for x in out], file=sys.stderr)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tasks", type=int, default=3000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=float, default=2000.0,
                    help="calls/s offered in the outage runs (open loop)")
    ap.add_argument("--only", choices=["outage"], default=None,
                    help="run only the outage comparison")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows = asyncio.run(run_async(args, tmp))
        k = None if args.only else kill_run(args.kills, args.seed, tmp / "kill")
    if k is not None:
        rows += kill_rows(k)
    w = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{w}}  {'result':>30}  {'target':>22}  ok")
    for name, value, target, ok in rows:
        print(f"{name:<{w}}  {value:>30}  {target:>22}  {'yes' if ok else 'NO'}")
    print(f"\n(seed {args.seed}; {time.perf_counter() - t0:.0f} s)")


def kill_rows(k: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    rows: list[tuple[str, str, str, bool]] = []
    rows.append((f"kill -9 x{k['kills']}: tasks acknowledged / lost",
                 f"{k['acked']} / {k['lost']}", "0 lost", k["lost"] == 0))
    rows.append(("kill -9: tasks left unfinished after restart / with two terminal states",
                 f"{k['unfinished']} / {k['two_terminal']}", "0 / 0",
                 k["unfinished"] == 0 and k["two_terminal"] == 0))
    rows.append(("kill -9: non-idempotent tasks run twice / idempotent re-run",
                 f"{k['once_run_twice']} / {k['idempotent_rerun']}", "0 / any",
                 k["once_run_twice"] == 0))
    print(f"statuses after kills: {k['statuses']}", file=sys.stderr)
    return rows


if __name__ == "__main__":
    main()
