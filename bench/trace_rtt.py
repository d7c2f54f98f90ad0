"""One round trip's timeline, hop by hop: distributed skillexec and bare Celery side by side.

Run:  .venv/bin/python bench/trace_rtt.py [--calls 200] [--src DIR]

Two skillexec workers (-c 4) and two bare Celery workers (solo) on one Redis broker; the
client (this process) calls them one at a time, alternating. Every process stamps the hops
it passes (``_hops``, CLOCK_MONOTONIC shared by all processes); a stamp belongs to the call
whose window holds it. Printed: per hop, the median time since the call began and the
median gap from the hop before (the first stamp of each label in the window). ``--src``:
the workers and the client import skillexec from there (a baseline checkout)."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_distributed as bd  # noqa: E402

_BOOT = ("import sys; sys.path.insert(0, {here!r}); import _hops; "
         "_hops.install({role!r}, {dir!r}); sys.argv = {argv!r}; {main}")


def _boot(role: str, directory: str, argv: list[str], main: str) -> list[str]:
    return [sys.executable, "-c", _BOOT.format(here=str(HERE), role=role, dir=directory,
                                               argv=argv, main=main)]


async def _calls(skx: bd.Skx, calls: int, trace: str,
                 queue: str) -> dict[str, list[tuple[int, int]]]:
    import _celery_noop
    import _hops
    import redis
    _hops.install("C", trace)
    r = redis.Redis.from_url(os.environ["BENCH_BROKER"])
    windows: dict[str, list[tuple[int, int]]] = {"celery": [], "skillexec": []}
    engine = skx.engine()
    async with engine as e:  # type: ignore[attr-defined]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            import psycopg
            with psycopg.connect(os.environ["SKILLEXEC_JOURNAL__URL"], autocommit=True) as c:
                try:
                    row = c.execute("SELECT count(*) FROM skillexec_workers").fetchone()
                except psycopg.errors.UndefinedTable:
                    row = (0,)
            if row and row[0] >= 2:
                break
            await asyncio.sleep(0.1)
        for _ in range(10):
            await e.execute("noop", {"n": -1})
            _celery_noop.app.send_task("ping", args=("warm",), queue=queue)
            r.blpop(["warm"], timeout=30)
        for _ in range(calls):
            done = f"bp-{uuid.uuid4().hex[:8]}"
            t0 = time.monotonic_ns()
            _hops.stamp("send")
            _celery_noop.app.send_task("ping", args=(done,), queue=queue)
            _hops.stamp("sent")
            r.blpop([done], timeout=30)
            _hops.stamp("popped")
            windows["celery"].append((t0, time.monotonic_ns()))
            await asyncio.sleep(0.002)
            t0 = time.monotonic_ns()
            await e.execute("noop", {"n": 0})
            windows["skillexec"].append((t0, time.monotonic_ns()))
            await asyncio.sleep(0.002)
    return windows


CHAINS = {
    "celery": ["C.send", "B.brpop.read", "B.kombu.callback", "B.task.start", "B.task.end",
               "C.popped"],
    "skillexec": ["C.execute.enter", "C.commit.begin", "C.commit.sent", "C.publish.begin",
                  "W.brpop.read", "W.kombu.callback", "W.received", "W.claim.sent",
                  "W.loop.handle", "W.claim.answered", "W.run.begin", "W.finish.call",
                  "W.commit.begin", "W.commit.placed", "C.notify.heard", "C.execute.return"],
}


def _chain(arm: str, calls: list[list[tuple[int, str, int, str]]]) -> None:
    """Per call, each hop of the chain as the first stamp of its label after the hop
    before it (stamps of another call's leftovers are skipped); the median gap of each."""
    chain = CHAINS[arm]
    gaps: dict[str, list[float]] = defaultdict(list)
    cpus: dict[str, list[float]] = defaultdict(list)
    for stamps in calls:
        at, prev = stamps[0][0], None
        threads: dict[str, int] = {}
        k = 0
        for label in chain:
            while k < len(stamps) and stamps[k][1] != label:
                threads[stamps[k][3]] = stamps[k][2]
                k += 1
            if k == len(stamps):
                break
            ns, _, tcpu, thread = stamps[k]
            gaps[label].append((ns - at) / 1e6)
            if thread in threads and thread == prev:
                cpus[label].append((tcpu - threads[thread]) / 1e6)
            threads[thread], at, prev = tcpu, ns, thread
            k += 1
    print(f"  chain ({arm}): median gap from the hop before; cpu when the same thread")
    for label in chain:
        if gaps[label]:
            c = f"cpu {statistics.median(cpus[label]):6.3f}" if cpus[label] else ""
            print(f"    +{statistics.median(gaps[label]):7.3f} ms  {label:20s} {c}"
                  f" (in {len(gaps[label])})")


def _report(trace: str, windows: dict[str, list[tuple[int, int]]]) -> None:
    stamps: list[tuple[int, str, int, str]] = []
    for f in Path(trace).glob("*.txt"):
        for line in f.read_text().splitlines():
            ns, label, cpu, thread = line.split(" ")
            stamps.append((int(ns), label, int(cpu), thread))
    stamps.sort()
    for arm, spans in windows.items():
        at: dict[str, list[float]] = defaultdict(list)
        cpu: dict[str, list[float]] = defaultdict(list)
        order: dict[str, list[int]] = defaultdict(list)
        i = 0
        per_call: list[list[tuple[int, str, int, str]]] = []
        for t0, t1 in spans:
            while i < len(stamps) and stamps[i][0] < t0:
                i += 1
            k0 = i
            while k0 < len(stamps) and stamps[k0][0] <= t1:
                k0 += 1
            per_call.append([(t0, "", 0, ""), *stamps[i:k0]])
            seen: dict[str, int] = {}
            last_cpu: dict[str, int] = {}
            j = i
            while j < len(stamps) and stamps[j][0] <= t1:
                ns, label, tcpu, thread = stamps[j]
                n = sum(1 for k in seen if k.split("#")[0] == label)
                key = label if n == 0 else f"{label}#{n + 1}"
                seen[key] = ns
                if thread in last_cpu:
                    cpu[key].append((tcpu - last_cpu[thread]) / 1e6)
                last_cpu[thread] = tcpu
                j += 1
            for k, ns in seen.items():
                at[k].append((ns - t0) / 1e6)
            for pos, k in enumerate(seen):
                order[k].append(pos)
            at["END"].append((t1 - t0) / 1e6)
        print(f"\n{arm}: {len(spans)} calls, p50 {statistics.median(at['END']):.3f} ms")
        rows = sorted(((statistics.median(v), k, len(v)) for k, v in at.items()))
        prev = 0.0
        for med, k, n in rows:
            c = f"cpu {statistics.median(cpu[k]):6.3f}" if cpu.get(k) else " " * 10
            print(f"  {med:8.3f} ms  +{med - prev:7.3f}  {c}  {k:24s} (in {n})")
            prev = med
        _chain(arm, per_call)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--src", default=None)
    args = ap.parse_args()
    src = args.src or str(HERE.parent / "src")
    trace = tempfile.mkdtemp(prefix="skx-trace-")
    queue, key = f"bq-{uuid.uuid4().hex[:8]}", f"bk-{uuid.uuid4().hex[:8]}"
    os.environ.update(BENCH_BROKER=args.broker, BENCH_BACKEND="", BENCH_KEY=key,
                      BENCH_COUNTER=args.broker)
    db = bd.new_db()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        skx = bd.Skx(Path(tmp), args.broker, db, "inline")
        skx.env["PYTHONPATH"] = src
        try:
            for i in range(2):
                procs.append(subprocess.Popen(_boot("W", trace, [
                    "skillexec", "worker", "--skills-dir", str(skx.root / "skills"),
                    "--data-dir", str(skx.root / "data"), "-c", "4"],
                    "from skillexec.cli import main; main()"), env=skx.env, cwd=skx.root,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                procs.append(subprocess.Popen(_boot("B", trace, [
                    "celery", "-A", "_celery_noop", "worker", "-P", "solo", "-Q", queue,
                    "--loglevel=WARNING", "--without-gossip", "--without-mingle",
                    "--without-heartbeat", f"--hostname=b{i}.{uuid.uuid4().hex[:6]}@%h"],
                    "from celery.__main__ import main; main()"),
                    env={**os.environ, "PYTHONPATH": str(HERE)}, cwd=HERE,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            sys.path.insert(0, src)
            windows = asyncio.run(_calls(skx, args.calls, trace, queue))
        finally:
            bd.stop(procs)
            bd.drop_db(db)
    _report(trace, windows)
    print("stamps and profiles in", trace)


if __name__ == "__main__":
    main()
