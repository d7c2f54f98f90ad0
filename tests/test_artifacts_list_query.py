"""``artifacts list``: the journal sorts and cuts, so a listing costs what it shows.

It read every artifact record of the journal and sorted them in Python to print one:
about a second, and the whole table in memory, per 200,000 artifacts.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skillexec.storage.store import ArtifactRecord, TaskStore
from skillexec.task import ArtifactRef
from tests.conftest import ROOT, arun

MANY = 300_000


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TaskStore:
    if request.param == "sqlite":
        from skillexec.storage.sqlite import SQLiteStore
        return SQLiteStore(tmp_path / "journal.db")
    if request.param == "memory":
        from skillexec.storage.memory import MemoryStore
        return MemoryStore()
    from skillexec.storage.postgres import PostgresStore
    return PostgresStore(str(request.getfixturevalue("pg_url")))


def test_the_newest_first_of_one_task_or_all(store: TaskStore) -> None:
    async def go() -> None:
        await store.open()
        try:
            now = time.time()
            made = [ArtifactRecord(ArtifactRef(f"art{i}", f"f{i}", "text/plain", i, "ab" * 32),
                                   "t1" if i % 2 else "t2", now - 100 + i) for i in range(10)]
            await asyncio.gather(*(store.artifact(r) for r in reversed(made)))
            assert [r.ref.id for r in await store.list_artifacts(limit=3)] == \
                ["art9", "art8", "art7"]
            assert [r.ref.id for r in await store.list_artifacts(task_id="t2", limit=2)] == \
                ["art8", "art6"]
            assert await store.list_artifacts(task_id="t1") == [made[i] for i in (9, 7, 5, 3, 1)]
            assert await store.list_artifacts(task_id="none") == []
        finally:
            await store.close()

    arun(go())


def test_listing_one_of_many_does_not_read_them_all(tmp_path: Path) -> None:
    data = tmp_path / "d"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def listed(*args: str) -> tuple[float, list[dict[str, object]]]:
        best, out = float("inf"), []
        for _ in range(2):  # the faster of two: a busy machine's pause is not the query
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "skillexec", "artifacts", "list", *args,
                                "--json", "--data-dir", str(data)], env=env, text=True,
                               capture_output=True, timeout=120, check=False)
            best = min(best, time.perf_counter() - t0)
            assert r.returncode == 0, r.stderr
            out = json.loads(r.stdout)
        return best, out

    _add(data, 10)
    few, _ = listed("--limit", "1")
    _add(data, MANY)
    many, newest = listed("--limit", "1")
    assert [a["id"] for a in newest] == [f"art{MANY - 1}"]
    # Reading the table took about 1.5 s more at this size; the query takes milliseconds.
    assert many - few < 0.6, (few, many)
    one_task, mine = listed("--task", "task-7", "--limit", "2")
    assert [a["id"] for a in mine] == [f"art{MANY - 3}", f"art{MANY - 13}"]
    assert one_task - few < 0.6, (few, one_task)


def _add(data: Path, n: int) -> None:
    """``n`` artifact records, straight into a journal an engine made (their files are not
    needed to list them)."""
    from skillexec.storage.sqlite import SQLiteStore

    async def make() -> None:
        s = SQLiteStore(data / "journal.db")
        await s.open()
        await s.close()

    arun(make())
    now = time.time() - n
    with sqlite3.connect(data / "journal.db") as db:
        db.execute("DELETE FROM artifacts")
        db.executemany(
            "INSERT INTO artifacts(id, sha256, name, mime, size, task_id, created_at)"
            " VALUES (?,?,?,?,?,?,?)",
            ((f"art{i}", "ab" * 32, f"f{i}.txt", "text/plain", 3, f"task-{i % 10}", now + i)
             for i in range(n)))
