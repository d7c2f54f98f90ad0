"""The journal's cost through the engine: SQLite vs PostgreSQL, and PostgreSQL's group commit.

Run:  .venv/bin/python bench/bench_journal_pg.py [--calls 5000] [--callers 100] [--rounds 3]
      [--url postgresql://postgres@127.0.0.1:5432/postgres]

Side by side in one run (rounds interleaved, so machine noise hits every arm alike):
  1. engine.execute() of a no-op async skill, 100 concurrent callers, the engine core (as
     bench_engine.py: monitor, breakers, pressure and cache off), SQLite journal;
  2. the same on a PostgreSQL journal (a database made for the run, dropped after), with
     journal.max_batch 1 (a commit per record: one fsync each), 16, 256 and 2000 (default).
Each task writes 2 records (accepted, ended; an idempotent skill's start is not awaited and
rides along in a group commit). "records/commit" is the mean group-commit size measured.
The server's synchronous_commit is printed: with it on, every commit waits for an fsync.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

import psycopg
from bench_engine import CORE, drive, noop, pct
from psycopg import sql

from skillexec import EngineConfig, SkillExecutionEngine
from skillexec.storage.postgres import PostgresStore

BATCHES = (1, 16, 256, 2000)


async def arm(total: int, callers: int, *, data: Path, url: str | None,
              max_batch: int) -> tuple[float, list[float], float]:
    journal: dict[str, object] = {"max_batch": max_batch}
    if url is not None:
        journal["url"] = url
    cfg = EngineConfig(data_dir=data, max_concurrency=1000, journal=journal, **CORE)
    async with SkillExecutionEngine(config=cfg) as engine:
        engine.register(noop)
        for _ in range(200):  # warm up (and the prepared statements)
            await engine.execute("noop")
        store = engine.journal
        before = (getattr(store, "commits", 0), getattr(store, "records", 0))
        wall, lat = await drive(lambda: engine.execute("noop"), total, callers)
        per_commit = 0.0
        if isinstance(store, PostgresStore):
            commits, records = store.commits - before[0], store.records - before[1]
            per_commit = records / commits if commits else 0.0
        return wall, lat, per_commit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--callers", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                    help="A server's maintenance database: the run makes its own beside it.")
    args = ap.parse_args()
    name = f"skillexec_bench_{os.getpid()}"
    with psycopg.connect(args.url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        sync = admin.execute("SHOW synchronous_commit").fetchone()
        version = admin.execute("SHOW server_version").fetchone()
    url = args.url.rsplit("/", 1)[0] + "/" + name
    tmp = Path(tempfile.mkdtemp(prefix="skillexec-bench-pg-"))
    arms = ["sqlite"] + [f"pg{b}" for b in BATCHES]
    rows: dict[str, list[tuple[float, list[float], float]]] = {a: [] for a in arms}
    try:
        for r in range(args.rounds):
            rows["sqlite"].append(asyncio.run(arm(args.calls, args.callers,
                                                  data=tmp / f"s{r}", url=None,
                                                  max_batch=2000)))
            for b in BATCHES:
                with psycopg.connect(url, autocommit=True) as c:  # each arm from empty
                    c.execute("DROP TABLE IF EXISTS tasks, artifacts, events, cache,"
                              " schema_version")
                rows[f"pg{b}"].append(asyncio.run(arm(args.calls, args.callers,
                                                      data=tmp / f"p{b}-{r}", url=url,
                                                      max_batch=b)))
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))

    print(f"\nno-op calls through the engine core, {args.callers} concurrent callers, "
          f"{args.calls} calls, best of {args.rounds}; PostgreSQL {version[0] if version else '?'}"
          f" (synchronous_commit {sync[0] if sync else '?'}), client on the same cores")
    print(f"{'journal':34} {'tasks/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'records/commit':>15}")
    for a in arms:
        wall, lat, per_commit = min(rows[a], key=lambda x: x[0])
        label = "SQLite (WAL, group commit)" if a == "sqlite" else (
            f"PostgreSQL, max_batch {a[2:]}")
        shown = f"{per_commit:15.1f}" if a != "sqlite" else f"{'-':>15}"
        print(f"{label:34} {args.calls / wall:9.0f} {pct(lat, 50) * 1e3:8.2f} "
              f"{pct(lat, 99) * 1e3:8.2f} {shown}")


if __name__ == "__main__":
    main()
