"""A skillexec client for ``bench_distributed.py --rtt-only``: one engine in its own
process (so that an A/B arm's client runs the other checkout's code too, from its
PYTHONPATH), one ``execute`` of the no-op per line read on stdin, its round trip in ms
printed on stdout. Settings come from the environment (the arm's, as its workers')."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import psycopg


async def main(root: Path, workers: int) -> None:
    from skillexec import SkillExecutionEngine

    db = os.environ["SKILLEXEC_JOURNAL__URL"]
    engine = SkillExecutionEngine(skills_dir=root / "skills", data_dir=root / "data")
    async with engine as e:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # every worker up before the first call
            with psycopg.connect(db, autocommit=True) as c:
                try:
                    row = c.execute("SELECT count(*) FROM skillexec_workers").fetchone()
                except psycopg.errors.UndefinedTable:
                    row = (0,)
            if row and row[0] >= workers:
                break
            await asyncio.sleep(0.1)
        for _ in range(8):
            await e.execute("noop", {"n": -1})
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        while (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            t = time.perf_counter()
            r = await asyncio.wait_for(e.execute("noop", {"n": 0}), 120)
            ms = (time.perf_counter() - t) * 1000
            print(f"{ms:.4f}" if r.ok else f"error {r.error}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
