"""The audit log's costs (issue #15).

Run:  .venv/bin/python bench/bench_audit.py [--records 1000000] [--calls 20000]
      [--journal-url postgresql://postgres@127.0.0.1/bench_audit] [--skip-throughput]
      [--per-row 50]

1. `audit verify` of a chain of N records (default 1,000,000; target < 10 s): the chain is
   made by a bulk writer (the same `audit_chain.chain` the journal uses, executemany in
   100k-row transactions) with a signed checkpoint at its head, then verified through
   `AuditLog.verify()` as `skillexec audit verify` does: streamed in pages, each record
   hashed from its stored bytes. The peak RSS growth during verify shows it streams.
   With ``--journal-url postgresql://...`` the chain is built (COPY) and verified in that
   database instead (its audit table is emptied first: name a database of its own).
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
from skillexec.security.audit_chain import GROUP_MAX, AuditEntry, chain, grouped
from skillexec.security.audit_checkpoints import CheckpointFile
from skillexec.storage.sqlite import SQLiteStore
from skillexec.storage.store import TaskStore


@skill(id="noop", version="1.0.0")
async def noop() -> None:
    return None


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_chain(data: Path, n: int, per_row: int = 1) -> float:
    """N records like the engine's (a task.finished each), bulk-written ``per_row`` records
    a row (the engine stores a group commit's records in one row); seconds taken."""
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
        stored = rows if per_row == 1 else [grouped(rows[i:i + per_row])
                                            for i in range(0, len(rows), per_row)]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO audit(seq, ts_us, body, digest) VALUES (?,?,?,?)",
                         stored)
        conn.execute("COMMIT")
        head = (rows[-1].seq, rows[-1].digest)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert head is not None
    CheckpointFile(data / "audit").write(*head)
    return time.perf_counter() - t0


def build_chain_pg(url: str, data: Path, n: int) -> float:
    """The same N records COPYed into the PostgreSQL journal ``url``; seconds taken."""
    import psycopg

    from skillexec.storage.postgres import PostgresStore

    async def schema() -> None:
        store = PostgresStore(url)
        await store.open()
        await store.close()
    asyncio.run(schema())
    t0 = time.perf_counter()
    head: tuple[int, bytes] | None = None
    ts = int(time.time() * 1e6)
    step = 100_000
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE audit")
        for start in range(0, n, step):
            entries = [AuditEntry(ts + i, "alice", "task.finished", f"{i:024x}", "succeeded",
                                  {"skill": "csv.read", "version": "1.2.0"})
                       for i in range(start, min(n, start + step))]
            rows = chain(head, entries)
            with conn.transaction(), conn.cursor().copy(
                    "COPY audit(seq, ts_us, body, digest) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
            head = (rows[-1].seq, rows[-1].digest)
        conn.execute("VACUUM ANALYZE audit")
    assert head is not None
    CheckpointFile(data / "audit").write(*head)
    return time.perf_counter() - t0


async def verify(data: Path, url: str | None = None) -> tuple[float, float, int, bool, float]:
    """Wall seconds, CPU seconds (this process, all threads), count, intact, RSS growth."""
    store: TaskStore
    if url is None:
        store = SQLiteStore(data / "journal.db")
    else:
        from skillexec.storage.postgres import PostgresStore
        store = PostgresStore(url)
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


def _pg_size_mb(url: str) -> float:
    import psycopg
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_total_relation_size('audit')").fetchone()
    return float(row[0]) / 2**20 if row else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--callers", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--per-row", type=int, default=1,
                    help=f"records a row in the SQLite chain (1..{GROUP_MAX}; the engine "
                         "stores a group commit's in one row)")
    ap.add_argument("--skip-verify", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--journal-url", default=None,
                    help="build and verify the chain in this PostgreSQL database")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="skillexec-bench-audit-"))

    if not args.skip_verify:
        url = args.journal_url
        if url is None:
            built = build_chain(tmp / "chain", args.records, args.per_row)
            size_mb = (tmp / "chain" / "journal.db").stat().st_size / 2**20
            where = "SQLite"
        else:
            built = build_chain_pg(url, tmp / "chain", args.records)
            size_mb = _pg_size_mb(url)
            where = "PostgreSQL"
        print(f"chain of {args.records:,} records built in {built:.1f} s ({size_mb:.0f} MB "
              f"of {where}, {args.per_row if url is None else 1} a row)")
        for _ in range(2):  # the second with the file in the page cache
            wall, cpu, count, ok, grew = asyncio.run(verify(tmp / "chain", url))
            print(f"audit verify: {count:,} records in {wall:.2f} s wall, {cpu:.2f} s CPU, "
                  f"intact={ok} ({count / wall:,.0f} records/s; target < 10 s), "
                  f"peak RSS grew {grew:.0f} MB")

    if args.skip_throughput:
        return
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
