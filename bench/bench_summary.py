"""The dashboard's task list: the journal's summaries against the tasks with their results.

Run:  .venv/bin/python bench/bench_summary.py [--tasks 10] [--mb 15] [--rounds 5]
      [--url postgresql://postgres@127.0.0.1:5432/postgres]

``GET /api/executions?fields=summary`` (polled every 3 s by each open dashboard) used to
read the listed tasks with their results (``list_tasks``) and keep a few fields; it reads
``list_summaries`` now. Both are timed here on journals of ``--tasks`` tasks with outputs of
``--mb`` MB: SQLite (a new journal, the summary column before the result; a journal made by
the previous schema, the column added at its end), SQLite sealed (encryption at rest), and
PostgreSQL (a database made for the run, dropped after; skipped when unreachable). Best of
``--rounds``: wall time and this process's CPU time (SQLite reads run in a thread of it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from skillexec.security.keyring import Keyring
from skillexec.storage.codec import PLAIN, Codec, SealingCodec
from skillexec.storage.postgres import PostgresStore
from skillexec.storage.sqlite import SQLiteStore
from skillexec.storage.store import TaskStore
from skillexec.task import ExecutionResult, ExecutionTask, Request, TaskStatus, new_task_id

# The tasks table of the previous release (no summary column).
_OLD_TASKS = """
CREATE TABLE tasks (
    task_id TEXT PRIMARY KEY, skill_id TEXT NOT NULL, skill_version TEXT NOT NULL,
    status TEXT NOT NULL, priority INTEGER NOT NULL, params BLOB NOT NULL,
    config BLOB NOT NULL, timeout_s REAL NOT NULL, max_retries INTEGER NOT NULL,
    idempotent INTEGER NOT NULL, principal TEXT, created_at REAL NOT NULL, deadline_s REAL,
    folder TEXT, started_at REAL, finished_at REAL, attempts INTEGER NOT NULL DEFAULT 0,
    result BLOB, history BLOB, cancel_requested INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""


async def fill(store: TaskStore, tasks: int, mb: float) -> None:
    big = "x" * int(mb * 1_000_000)
    for _ in range(tasks):
        t = ExecutionTask.of(new_task_id(), Request("s", "1.0.0", {}, {}, 5, 2.5, 0, True,
                                                    time.time(), "alice", None))
        await store.queued(t)
        now = time.time()
        await store.finished(t, ExecutionResult(
            t.task_id, "s", "1.0.0", TaskStatus.SUCCEEDED, output={"text": big}, attempts=1,
            metrics={"wall_ms": 1.5}, created_at=now, started_at=now, finished_at=now), [])


async def best(rounds: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    wall, cpu = float("inf"), float("inf")
    for _ in range(rounds):
        w, c = time.perf_counter(), time.process_time()
        await call()
        wall = min(wall, time.perf_counter() - w)
        cpu = min(cpu, time.process_time() - c)
    return wall, cpu


async def arm(name: str, store: TaskStore, args: argparse.Namespace) -> None:
    await store.open()
    try:
        await fill(store, args.tasks, args.mb)
        full = await best(max(1, args.rounds // 2), lambda: store.list_tasks(limit=30))
        short = await best(args.rounds, lambda: store.list_summaries(limit=30))
    finally:
        await store.close()
    print(f"{name:<30} full list {full[0] * 1e3:8.1f} ms ({full[1] * 1e3:7.1f} ms CPU)   "
          f"summaries {short[0] * 1e3:7.2f} ms ({short[1] * 1e3:6.2f} ms CPU)   "
          f"{full[0] / max(short[0], 1e-9):7.0f}x")


async def main(args: argparse.Namespace) -> None:
    print(f"{args.tasks} tasks, outputs of {args.mb:g} MB, best of {args.rounds}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sealed: Codec = SealingCodec(Keyring.open(root / "keyring.json", os.urandom(32)))
        for name, codec, old in (("SQLite", PLAIN, False),
                                 ("SQLite, previous schema's file", PLAIN, True),
                                 ("SQLite sealed", sealed, False)):
            path = root / f"{len(name)}-{old}.db"
            if old:
                with sqlite3.connect(path) as db:
                    db.executescript(_OLD_TASKS)
            await arm(name, SQLiteStore(path, codec=codec), args)
            path.unlink()
    name = f"skillexec_bench_summary_{os.getpid()}"
    try:
        with psycopg.connect(args.url, autocommit=True, connect_timeout=3) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        print(f"PostgreSQL skipped: {' '.join(str(exc).split())}")
        return
    url = args.url.rsplit("/", 1)[0] + "/" + name
    try:
        await arm("PostgreSQL", PostgresStore(url), args)
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--mb", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    asyncio.run(main(parser.parse_args()))
