"""The audit log's costs (issue #15).

Run:  .venv/bin/python bench/bench_audit.py [--records 1000000] [--calls 20000]

1. `audit verify` of a chain of N records (default 1,000,000; target < 10 s): the chain is
   made by a bulk writer (the same `audit_chain.chain` the journal uses, executemany in
   100k-row transactions) with a signed checkpoint at its head, then verified through
   `AuditLog.verify()` as `skillexec audit verify` does: streamed in pages, each record
   hashed from its stored bytes. The peak RSS growth during verify shows it streams.
2. Inline no-op engine throughput, SQLite journal on, audit on vs off (the engine core of
   bench_engine.py: monitor, breakers, pressure and cache off), interleaved rounds in one
   run, best of each.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

from skillexec import EngineConfig, SkillExecutionEngine, skill
from skillexec.security.audit import AuditLog
from skillexec.security.audit_chain import AuditEntry, chain
from skillexec.security.audit_checkpoints import CheckpointFile
from skillexec.storage.sqlite import SQLiteStore


@skill(id="noop", version="1.0.0")
async def noop() -> None:
    return None


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_chain(data: Path, n: int) -> float:
    """N records like the engine's (a task.finished each), bulk-written; seconds taken."""
    async def schema() -> None:
        store = SQLiteStore(data / "journal.db")
        await store.open()
        await store.close()
    asyncio.run(schema())
    t0 = time.perf_counter()
    conn = sqlite3.connect(data / "journal.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    head: tuple[int, bytes] | None = None
    ts = int(time.time() * 1e6)
    step = 100_000
    for start in range(0, n, step):
        entries = [AuditEntry(ts + i, "alice", "task.finished", f"{i:024x}", "succeeded",
                              {"skill": "csv.read", "version": "1.2.0"})
                   for i in range(start, min(n, start + step))]
        rows = chain(head, entries)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO audit(seq, ts_us, body, digest) VALUES (?,?,?,?)", rows)
        conn.execute("COMMIT")
        head = (rows[-1].seq, rows[-1].digest)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert head is not None
    CheckpointFile(data / "audit").write(*head)
    return time.perf_counter() - t0


async def verify(data: Path) -> tuple[float, float, int, bool, float]:
    """Wall seconds, CPU seconds (this process, all threads), count, intact, RSS growth."""
    store = SQLiteStore(data / "journal.db")
    await store.open()
    try:
        gc.collect()
        rss0 = _rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        report = await AuditLog(store, directory=data / "audit").verify()
        return (time.perf_counter() - t0, time.process_time() - c0, report.count, report.ok,
                _rss_mb() - rss0)
    finally:
        await store.close()


CORE = {"monitor": {"enabled": False},
        "reliability": {"breaker_enabled": False, "budget_enabled": False},
        "pressure": {"enabled": False}, "cache": {"enabled": False}}


async def throughput(total: int, callers: int, *, audit: bool,
                     data: Path) -> tuple[float, float]:
    """Calls per second (wall), and CPU µs per call (this process, all its threads: on a
    shared, busy machine the steadier of the two)."""
    cfg = EngineConfig(data_dir=data, journal=True, max_concurrency=1000,
                       audit={"enabled": audit}, **CORE)
    async with SkillExecutionEngine(config=cfg) as engine:
        engine.register(noop)
        for _ in range(200):
            await engine.execute("noop")
        remaining = total

        async def caller() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await engine.execute("noop")

        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(caller() for _ in range(callers)))
        return (total / (time.perf_counter() - t0),
                (time.process_time() - c0) / total * 1e6)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--callers", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--skip-verify", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="skillexec-bench-audit-"))

    if not args.skip_verify:
        built = build_chain(tmp / "chain", args.records)
        size_mb = (tmp / "chain" / "journal.db").stat().st_size / 2**20
        print(f"chain of {args.records:,} records built in {built:.1f} s ({size_mb:.0f} MB)")
        for _ in range(2):  # the second with the file in the page cache
            wall, cpu, count, ok, grew = asyncio.run(verify(tmp / "chain"))
            print(f"audit verify: {count:,} records in {wall:.2f} s wall, {cpu:.2f} s CPU, "
                  f"intact={ok} ({count / wall:,.0f} records/s; target < 10 s), "
                  f"peak RSS grew {grew:.0f} MB")

    rows: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for r in range(args.rounds):  # interleaved: noise hits both alike
        for audit in (False, True):
            rows[audit].append(asyncio.run(throughput(args.calls, args.callers, audit=audit,
                                                      data=tmp / f"e{r}{audit}")))
    off, on = max(x[0] for x in rows[False]), max(x[0] for x in rows[True])
    cpu_off, cpu_on = min(x[1] for x in rows[False]), min(x[1] for x in rows[True])
    print(f"inline no-op, journal on, {args.callers} callers, {args.calls} calls, best of "
          f"{args.rounds}: audit off {off:,.0f} calls/s, audit on {on:,.0f} calls/s = "
          f"{on / off * 100:.1f} %; CPU per call {cpu_off:.1f} us off, {cpu_on:.1f} us on = "
          f"{cpu_off / cpu_on * 100:.1f} % (the audit's share of the >= 85 % budget for "
          "audit + encryption + redaction)")


if __name__ == "__main__":
    main()
